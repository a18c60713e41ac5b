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
from dma.dmaengine import Cap, DmaengineResult, DmaStatus, DmaTxResult, PrepFlags
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


def run_dmatest(
    chan: DmaChan, wait: Waiter, params: DmatestParams, log: Callable[[str], None] = print,
    stop: Callable[[], bool] = lambda: False,
) -> DmatestResult:
    """Run ``params.iterations`` tests on ``chan`` (0: until ``stop()``, asked before
    each test, as the thread asks ``kthread_should_stop``) and return the summary."""
    rng = np.random.default_rng(params.seed)
    dev = chan.device.dev
    memset = params.test == "memset"
    align = 1 << params.alignment
    size = params.buf_size
    thread = f"{chan.name}-{'set' if memset else 'copy'}0"
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
        src = _pattern(size, PATTERN_SRC, src_off, length, PATTERN_COPY, memset)
        dst = _pattern(size, PATTERN_DST, dst_off, length, PATTERN_OVERWRITE, memset)
        untimed_s += time.perf_counter() - t0

        src_dma = dma_map_single(dev, src, DmaDataDirection.TO_DEVICE)
        ret = dma_mapping_error(dev, src_dma)
        if ret:
            fail("src mapping error", ret)
            continue
        dst_dma = dma_map_single(dev, dst, DmaDataDirection.BIDIRECTIONAL)
        ret = dma_mapping_error(dev, dst_dma)
        if ret:
            dma_unmap_single(dev, src_dma, size, DmaDataDirection.TO_DEVICE)
            fail("dst mapping error", ret)
            continue
        flags = PrepFlags.CTRL_ACK | (PrepFlags.NONE if params.polled else PrepFlags.PREP_INTERRUPT)
        if memset:
            tx = prep_dma_memset(chan, dst_dma + dst_off, int(src[src_off]), length, flags)
        else:
            tx = prep_dma_memcpy(chan, dst_dma + dst_off, src_dma + src_off, length, flags)
        done: list[DmaengineResult] = []
        cookie = -1
        if tx is not None:
            if not params.polled:
                tx.callback_result = lambda _p, r, done=done: done.append(r)
            cookie = submit(tx)
        if tx is None or cookie < 0:
            dma_unmap_single(dev, dst_dma, size, DmaDataDirection.BIDIRECTIONAL)
            dma_unmap_single(dev, src_dma, size, DmaDataDirection.TO_DEVICE)
            fail("prep error" if tx is None else "submit error")
            continue
        issue_pending(chan)
        timeout_ns = params.timeout_ms * 1_000_000
        if params.polled:
            finished = wait(_not_in_progress(chan, cookie), timeout_ns)
        else:
            finished = wait(_nonempty(done), timeout_ns)
        status = tx_status(chan, cookie)[0]
        dma_unmap_single(dev, dst_dma, size, DmaDataDirection.BIDIRECTIONAL)
        dma_unmap_single(dev, src_dma, size, DmaDataDirection.TO_DEVICE)

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
        errors = _verify(src, 0, src_off, 0, PATTERN_SRC, True, memset, "srcbuf", out)
        errors += _verify(src, src_off, fill, src_off, PATTERN_SRC | PATTERN_COPY, True,
                          memset, "srcbuf", out)
        errors += _verify(src, fill, size, fill, PATTERN_SRC, True, memset, "srcbuf", out)
        errors += _verify(dst, 0, dst_off, 0, PATTERN_DST, False, memset, "dstbuf", out)
        errors += _verify(dst, dst_off, dst_off + length, src_off, PATTERN_SRC | PATTERN_COPY,
                          False, memset, "dstbuf", out)
        errors += _verify(dst, dst_off + length, size, dst_off + length, PATTERN_DST, False,
                          memset, "dstbuf", out)
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
    cap = Cap.MEMSET if params.test == "memset" else Cap.MEMCPY
    if channel is None:
        chan = request_chan_by_mask(cap)
    else:
        chan = request_this_chan(find_chan(channel))
    try:
        if not chan.device.cap_mask & cap:
            raise einval(f"channel {chan.name} cannot do {params.test}")
        result = run_dmatest(chan, wait, params, log, stop)
        thread = f"{chan.name}-{'set' if params.test == 'memset' else 'copy'}0"
        return thread, result
    finally:
        release_channel(chan)
