"""The model's side: a scenario run on the model's PCM, on the virtual clock, each step
at the time the guest's kernel began it.

Each scenario gets a fresh virtual board. The ioctls map to the substream's calls
(``pcm.pcm_native.Substream``: the kernel's side of the ioctl, not alsa-lib's); before a
step the clock runs to the time at which the guest's previous step ended, and a sleep
runs it to the time the guest's sleep ended, so both sides see the same elapsed time. The
records have the guest's shape: ret, err (the errno, or 0), state, hw_ptr, appl_ptr, t.
"""

from __future__ import annotations

import errno

from pcm import params as hp
from pcm.errors import PcmError
from pcm.formats import pcm_format
from pcm.pcm_native import SwParams
from pcm.runtime import PcmStream
from tests.oracle.scenarios import BOUNDARY, Scenario

BLOCKED_NS = 3_000_000_000  # the probe's alarm: a step blocked this long is cut short


def _hw(ss, fmt: str, ch: int, rate: int, period: int, buffer: int) -> dict:
    p = hp.HwParams()  # the probe's: every mask full, every interval open, then exact
    p.set_mask("FORMAT", {pcm_format(fmt).number})
    for name, v in (("CHANNELS", ch), ("RATE", rate), ("PERIOD_SIZE", period),
                    ("BUFFER_SIZE", buffer)):
        p.set_minmax(name, v, v)
    got = ss.hw_params(p)
    return {"period": got.get("PERIOD_SIZE"), "buffer": got.get("BUFFER_SIZE")}


def _sw(ss, avail_min: int, start: int, stop: int, sth: int, ssz: int) -> None:
    b = ss.runtime.boundary if ss.runtime is not None else 0

    def v(x: int) -> int:
        return b if x == BOUNDARY else x
    ss.sw_params(SwParams(avail_min, v(start), v(stop), v(sth), v(ssz), 1, b))


def _status(ss) -> dict:
    st = ss.status()
    return {"st_state": int(st.state), "st_avail": st.avail, "st_delay": st.delay,
            "st_hw": st.hw_ptr, "st_appl": st.appl_ptr}


def run(sc: Scenario, kernel_times: list[int]) -> list[dict]:
    """Run ``sc``; ``kernel_times[i]`` is when the guest's step i ended (ns since its
    scenario began; the open is step 0)."""
    from demos.session import open_session
    from pcm.soc_pcm import cards

    sess = open_session("virtual", "virtual")
    clock = sess.clock
    t0 = clock.now_ns
    stream = PcmStream.PLAYBACK if sc.stream == "p" else PcmStream.CAPTURE
    ss = cards()[0].pcm(0, stream)
    records: list[dict] = []
    frame_bytes = 4
    is_open = False
    try:
        steps = (("open",),) + sc.steps
        for i, step in enumerate(steps):
            op, args = step[0], step[1:]
            if i and i - 1 < len(kernel_times):
                clock.run_until(max(t0 + kernel_times[i - 1], clock.now_ns))
            began = clock.now_ns
            extra: dict = {}
            ret = err = 0
            try:
                if op == "open":
                    ss.open()
                    is_open = True
                elif op == "hw":
                    extra = _hw(ss, *args)
                    frame_bytes = args[1] * pcm_format(args[0]).phys // 8
                elif op == "sw":
                    _sw(ss, *args)
                elif op == "prepare":
                    ss.prepare()
                elif op == "start":
                    ss.start()
                elif op == "write":
                    ret = ss.writei(bytes(args[0] * frame_bytes), sc.nonblock)
                elif op == "read":
                    ret = len(ss.readi(args[0], sc.nonblock))
                elif op == "sleep":
                    end = kernel_times[i] if i < len(kernel_times) else (
                        clock.now_ns - t0 + args[0] * 1000)
                    clock.run_until(max(t0 + end, clock.now_ns))
                elif op == "status":
                    extra = _status(ss)
                elif op == "delay":
                    ret = ss.delay()
                elif op == "avail":
                    ret = ss.avail()
                elif op == "hwsync":
                    ss.hwsync()
                elif op == "drain":
                    ss.drain(sc.nonblock)
                elif op == "drop":
                    ss.drop()
                elif op == "pause":
                    ss.pause(bool(args[0]))
                elif op == "reset":
                    ss.reset()
                elif op == "forward":
                    ret = ss.forward(args[0])
                elif op == "close":
                    ss.close()
                    is_open = False
                else:
                    ret = -errno.ENOSYS
            except PcmError as e:
                err = e.errno or errno.EIO
                if err == errno.EIO and clock.now_ns - began >= BLOCKED_NS:
                    err = errno.EINTR  # blocked past the probe's alarm
                ret = -err
            rt = ss.runtime if is_open else None
            rec = {"s": sc.name, "i": i, "op": op, "ret": ret, "err": err,
                   "state": int(rt.state) if rt is not None else -1,
                   "hw": rt.hw_ptr if rt is not None else 0,
                   "appl": rt.appl_ptr if rt is not None else 0,
                   "avail": rt.avail() if rt is not None and rt.state else 0,
                   "t": clock.now_ns - t0, **extra}
            records.append(rec)
            if err == errno.EINTR:
                break
    finally:
        if is_open:
            try:
                ss.close()
            except PcmError:
                pass
        sess.close()
    return records

