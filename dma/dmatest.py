"""dmatest: the kernel's DMA engine test, on any channel of this framework.

Counterpart: drivers/dma/dmatest.c (its parameters, pattern buffers, verification and
result lines).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from dma.consumer import issue_pending, prep_dma_memcpy, prep_dma_memset, submit, tx_status
from dma.core import DmaChan, find_chan, release_channel, request_chan_by_mask, request_this_chan
from dma.dmaengine import Cap, DmaengineResult, DmaStatus, DmaTxResult, PrepFlags, dma_maxpq
from dma.errors import einval
from dma.mapping import DmaDataDirection, dma_map_single, dma_mapping_error, dma_unmap_single

PATTERN_SRC = 0x80
PATTERN_DST = 0x00
PATTERN_COPY = 0x40
PATTERN_OVERWRITE = 0x20
PATTERN_COUNT_MASK = 0x1F
PATTERN_MEMSET_IDX = 0x01
MAX_ERROR_COUNT = 32

# wait(cond, timeout_ns) -> bool: runs the hardware until cond() holds.
Waiter = Callable[[Callable[[], bool], int], bool]


@dataclass
class DmatestParams:
    test: str = "memcpy"
    iterations: int = 1000  # 0: until stop() says so, as the module's default of 0 runs
    buf_size: int = 16384
    alignment: int = 0  # log2 of the address and length alignment
    norandom: bool = False
    noverify: bool = False
    polled: bool = False
    timeout_ms: int = 3000
    seed: int = 0
    verbose: bool = False
    xor_sources: int = 3  # the module's xor_sources and pq_sources
    pq_sources: int = 3


@dataclass
class DmatestResult:
    tests: int = 0
    failures: int = 0
    iops: float = 0.0
    kbps: int = 0
    messages: list[str] = field(default_factory=list)
    reasons: dict[str, int] = field(default_factory=dict)

    def summary(self, thread: str) -> str:
        return (
            f"{thread}: summary {self.tests} tests, {self.failures} failures "
            f"{self.iops:.2f} iops {self.kbps} KB/s (0)"
        )


def _not_in_progress(chan: DmaChan, cookie: int) -> Callable[[], bool]:
    return lambda: tx_status(chan, cookie)[0] != DmaStatus.IN_PROGRESS


def _nonempty(done: list[DmaengineResult]) -> Callable[[], bool]:
    return lambda: bool(done)


def _inv_idx(start: int, n: int, is_memset: bool) -> np.ndarray:
    """``gen_inv_idx`` for positions ``start .. start + n``."""
    idx = np.full(n, PATTERN_MEMSET_IDX) if is_memset else np.arange(start, start + n)
    return ~idx & PATTERN_COUNT_MASK


def _pattern(size: int, base: int, start: int, length: int, mark: int,
             is_memset: bool) -> np.ndarray:
    buf = (base | _inv_idx(0, size, is_memset)).astype(np.uint8)
    buf[start : start + length] |= mark
    return buf


def _verify(
    buf: np.ndarray, start: int, end: int, counter: int, pattern: int, is_src: bool,
    is_memset: bool, name: str, out: list[str],
) -> int:
    """``dmatest_verify``: count and classify the wrong bytes in ``[start, end)``."""
    if end <= start:
        return 0
    expected = (pattern | _inv_idx(counter, end - start, is_memset)).astype(np.uint8)
    bad = np.nonzero(buf[start:end] != expected)[0]
    for k in bad[:MAX_ERROR_COUNT]:
        i, got, want = start + int(k), int(buf[start + k]), int(expected[k])
        diff = got ^ pattern
        if is_src:
            what = "overwritten!"
        elif pattern & PATTERN_COPY and diff & (PATTERN_COPY | PATTERN_OVERWRITE):
            what = "not copied!"
        elif diff & PATTERN_SRC:
            what = "was copied!"
        else:
            what = "mismatch!"
        out.append(f"{name}[{i:#x}] {what} Expected {want:02x}, got {got:02x}")
    if len(bad) > MAX_ERROR_COUNT:
        out.append(f"{len(bad) - MAX_ERROR_COUNT} errors suppressed")
    return len(bad)


def min_odd(x: int, y: int) -> int:
    """``min_odd``: the smaller, made odd by taking one away."""
    val = min(x, y)
    return val if val % 2 else val - 1


def thread_name(chan: DmaChan, test: str) -> str:
    """The test thread's name, as dmatest names it: dma0chan0-copy0."""
    op = {"memset": "set", "xor": "xor", "pq": "pq"}.get(test, "copy")
    return f"{chan.name}-{op}0"


def run_dmatest(
    chan: DmaChan, wait: Waiter, params: DmatestParams, log: Callable[[str], None] = print,
    stop: Callable[[], bool] = lambda: False,
) -> DmatestResult:
    """Run ``params.iterations`` tests on ``chan`` (0: until ``stop()``, asked before
    each test, as the thread asks ``kthread_should_stop``) and return the summary."""
    rng = np.random.default_rng(params.seed)
    dev = chan.device.dev
    device = chan.device
    memset = params.test == "memset"
    src_cnt, dst_cnt, align_log2 = 1, 1, params.alignment
    if params.test == "xor":  # odd, so that the XOR of the sources is the source
        src_cnt = min_odd(params.xor_sources | 1, device.max_xor)
        align_log2 = max(align_log2, device.xor_align)
    elif params.test == "pq":  # coefficients 1: P and Q are the source too
        src_cnt, dst_cnt = min_odd(params.pq_sources | 1, dma_maxpq(device, PrepFlags.NONE)), 2
        align_log2 = max(align_log2, device.pq_align)
    align = 1 << align_log2
    size = params.buf_size
    thread = thread_name(chan, params.test)
    res = DmatestResult()
    total_len = 0
    untimed_s = 0.0  # filling and verifying: dmatest's filltime and comparetime

    def fail(reason: str, data: int = 0) -> None:
        res.failures += 1
        res.reasons[reason] = res.reasons.get(reason, 0) + 1
        res.messages.append(f"{thread}: result #{res.tests}: '{reason}' {detail} ({data})")
        log(res.messages[-1])

    start = time.perf_counter()
    while not stop() and (params.iterations == 0 or res.tests < params.iterations):
        res.tests += 1
        if params.norandom:
            length = size
        else:
            length = int(rng.integers(1, size + 1))
        length = length // align * align or align
        total_len += length
        if params.norandom:
            src_off = dst_off = 0
        else:
            src_off = int(rng.integers(0, size - length + 1)) // align * align
            dst_off = int(rng.integers(0, size - length + 1)) // align * align
        detail = f"with src_off={src_off:#x} dst_off={dst_off:#x} len={length:#x}"

        t0 = time.perf_counter()
        srcs = [_pattern(size, PATTERN_SRC, src_off, length, PATTERN_COPY, memset)
                for _ in range(src_cnt)]
        dsts = [_pattern(size, PATTERN_DST, dst_off, length, PATTERN_OVERWRITE, memset)
                for _ in range(dst_cnt)]
        src, dst = srcs[0], dsts[0]
        untimed_s += time.perf_counter() - t0

        mapped: list[tuple[int, DmaDataDirection]] = []

        def unmap_all(mapped: list[tuple[int, DmaDataDirection]] = mapped) -> None:
            for addr, direction in mapped:
                dma_unmap_single(dev, addr, size, direction)

        for buf, direction in [*((s, DmaDataDirection.TO_DEVICE) for s in srcs),
                               *((d, DmaDataDirection.BIDIRECTIONAL) for d in dsts)]:
            addr = dma_map_single(dev, buf, direction)
            ret = dma_mapping_error(dev, addr)
            if ret:
                break
            mapped.append((addr, direction))
        if len(mapped) < src_cnt + dst_cnt:
            unmap_all()
            fail("src mapping error" if len(mapped) < src_cnt else "dst mapping error", ret)
            continue
        src_dmas = [a + src_off for a, _ in mapped[:src_cnt]]
        dst_dmas = [a + dst_off for a, _ in mapped[src_cnt:]]
        flags = PrepFlags.CTRL_ACK | (PrepFlags.NONE if params.polled else PrepFlags.PREP_INTERRUPT)
        if memset:
            tx = prep_dma_memset(chan, dst_dmas[0], int(src[src_off]), length, flags)
        elif params.test == "xor" and device.device_prep_dma_xor is not None:
            tx = device.device_prep_dma_xor(chan, dst_dmas[0], src_dmas, src_cnt, length,
                                            flags)
        elif params.test == "pq" and device.device_prep_dma_pq is not None:
            tx = device.device_prep_dma_pq(chan, dst_dmas, src_dmas, src_cnt,
                                           bytes([1] * src_cnt), length, flags)
        else:
            tx = prep_dma_memcpy(chan, dst_dmas[0], src_dmas[0], length, flags)
        done: list[DmaengineResult] = []
        cookie = -1
        if tx is not None:
            if not params.polled:
                tx.callback_result = lambda _p, r, done=done: done.append(r)
            cookie = submit(tx)
        if tx is None or cookie < 0:
            unmap_all()
            fail("prep error" if tx is None else "submit error")
            continue
        issue_pending(chan)
        timeout_ns = params.timeout_ms * 1_000_000
        if params.polled:
            finished = wait(_not_in_progress(chan, cookie), timeout_ns)
        else:
            finished = wait(_nonempty(done), timeout_ns)
        status = tx_status(chan, cookie)[0]
        unmap_all()

        if not finished:
            fail("test timed out")
            continue
        if status != DmaStatus.COMPLETE or (done and done[0].result != DmaTxResult.NOERROR):
            fail("completion busy status" if status == DmaStatus.IN_PROGRESS
                 else "completion error status")
            continue
        if params.noverify:
            if params.verbose:
                log(f"{thread}: result #{res.tests}: 'test passed' {detail} (0)")
            continue
        t0 = time.perf_counter()
        out: list[str] = []
        fill = src_off + length
        errors = 0
        for src in srcs:
            errors += _verify(src, 0, src_off, 0, PATTERN_SRC, True, memset, "srcbuf", out)
            errors += _verify(src, src_off, fill, src_off, PATTERN_SRC | PATTERN_COPY, True,
                              memset, "srcbuf", out)
            errors += _verify(src, fill, size, fill, PATTERN_SRC, True, memset, "srcbuf", out)
        for dst in dsts:
            errors += _verify(dst, 0, dst_off, 0, PATTERN_DST, False, memset, "dstbuf", out)
            errors += _verify(dst, dst_off, dst_off + length, src_off,
                              PATTERN_SRC | PATTERN_COPY, False, memset, "dstbuf", out)
            errors += _verify(dst, dst_off + length, size, dst_off + length, PATTERN_DST,
                              False, memset, "dstbuf", out)
        for line in out:
            log(f"{thread}: {line}")
        untimed_s += time.perf_counter() - t0
        if errors:
            fail("data error", errors)
        elif params.verbose:
            log(f"{thread}: result #{res.tests}: 'test passed' {detail} (0)")

    runtime_s = time.perf_counter() - start - untimed_s
    if runtime_s > 0:
        res.iops = res.tests / runtime_s
        res.kbps = int(total_len / 1024 / runtime_s)
    return res


def dmatest(
    params: DmatestParams, wait: Waiter, channel: str | None = None,
    log: Callable[[str], None] = print, stop: Callable[[], bool] = lambda: False,
) -> tuple[str, DmatestResult]:
    """Take a channel (by name, or any with the capability), test it, release it."""
    cap = {"memset": Cap.MEMSET, "xor": Cap.XOR, "pq": Cap.PQ}.get(params.test, Cap.MEMCPY)
    if channel is None:
        chan = request_chan_by_mask(cap)
    else:
        chan = request_this_chan(find_chan(channel))
    try:
        if not chan.device.cap_mask & cap:
            raise einval(f"channel {chan.name} cannot do {params.test}")
        result = run_dmatest(chan, wait, params, log, stop)
        return thread_name(chan, params.test), result
    finally:
        release_channel(chan)
