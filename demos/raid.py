"""``dma-audio raid``: a file striped over N+2 simulated disks with P+Q from the engine, two
disks lost and rebuilt, the result checked bit-exact.

Counterpart: none in the kernel; what md's RAID-6 asks of async_tx, a stripe at a time:
``async_gen_syndrome`` to write, ``async_raid6_2data_recov`` to rebuild. The disks are
files in a scratch directory, written and read a stripe at a time, so memory holds one
stripe whatever the file's length.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from typing import Any

from demos.usage import UsageError


def raid_command(args: Any, say) -> int:
    from dma import async_raid as ar
    from dma.consumer import issue_pending
    from dma.core import dmaengine_get, dmaengine_put
    from dma.mapping import dma_alloc_coherent, dma_free_coherent
    from soc.board import make_board

    n, chunk = args.disks, args.chunk
    lose = _lost_disks(args.lose)
    if n < 2 or n > 16:
        raise UsageError(f"raid: --disks {n}: 2 to 16 data disks")
    if chunk <= 0 or chunk % 8:
        raise UsageError(f"raid: --chunk {chunk}: a positive multiple of 8 bytes")
    if len(lose) != 2 or lose[0] == lose[1] or not all(0 <= d < n for d in lose):
        raise UsageError(f"raid: --lose {args.lose}: two different data disks of 0..{n - 1}")
    try:
        src = open(args.input, "rb")
    except OSError as e:
        raise UsageError(f"{args.input}: {e.strerror}") from None
    st = os.fstat(src.fileno())
    if not stat.S_ISREG(st.st_mode) or st.st_size == 0:
        src.close()
        what = "is empty" if stat.S_ISREG(st.st_mode) else "is not a regular file"
        raise UsageError(f"{args.input}: {what}; raid stripes a file and reads it back "
                         "to check")
    board = make_board(adma=True)
    board.populate()
    pdev = board.devices["adma0"]
    clock = board.soc.clock
    dmaengine_get()
    ops: list[str] = []
    ar.trace.append(ops.append)
    bufs = [dma_alloc_coherent(pdev, chunk) for _ in range(n + 2)]
    size = st.st_size
    stripes = -(-size // (n * chunk))
    first_ops: dict[str, list[str]] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="dma-audio-raid-") as tmp:
            disks = [open(os.path.join(tmp, f"disk{i}"), "w+b") for i in range(n + 2)]
            for s in range(stripes):  # write: the data chunks, then P and Q
                for i in range(n):
                    raw = src.read(chunk)
                    bufs[i][0][:] = 0
                    bufs[i][0][:len(raw)] = memoryview(raw)
                tx = ar.async_gen_syndrome(bufs[:n], bufs[n], bufs[n + 1], chunk,
                                           ar.AsyncSubmitCtl(ar.AsyncTxFlags.ASYNC_TX_ACK))
                _wait(clock, tx, issue_pending)
                for i in range(n + 2):
                    disks[i].write(bufs[i][0].tobytes())
                if s == 0:
                    first_ops["write"] = list(ops)
            for d in lose:  # two disks fail: what they held is gone
                disks[d].close()
                os.remove(disks[d].name)
            say(f"raid: {size} bytes in {stripes} stripes over {n} data disks and P and Q "
                f"({chunk}-byte chunks); disks {lose[0]} and {lose[1]} lost")
            rebuilt = [open(os.path.join(tmp, f"rebuilt{d}"), "w+b") for d in lose]
            ops.clear()
            for d in disks:
                if not d.closed:
                    d.seek(0)
            for s in range(stripes):  # rebuild a stripe at a time
                for i in range(n + 2):
                    if i in lose:
                        bufs[i][0][:] = 0
                    else:
                        bufs[i][0][:] = memoryview(disks[i].read(chunk))
                tx = ar.async_raid6_2data_recov(n + 2, chunk, lose[0], lose[1], bufs,
                                                ar.AsyncSubmitCtl(ar.AsyncTxFlags.ASYNC_TX_ACK))
                _wait(clock, tx, issue_pending)
                for k, d in enumerate(lose):
                    rebuilt[k].write(bufs[d][0].tobytes())
                if s == 0:
                    first_ops["rebuild"] = list(ops)
            exact = _check(src, size, n, chunk, disks, rebuilt, lose)
            for f in [*disks, *rebuilt]:
                if not f.closed:
                    f.close()
    finally:
        src.close()
        ar.trace.remove(ops.append)
        for cpu, bus in bufs:
            dma_free_coherent(pdev, len(cpu), bus)
        dmaengine_put()
        board.remove()
    for what in ("write", "rebuild"):
        say(f"the first stripe's {what}:")
        for line in first_ops.get(what, []):
            say(f"  {line}")
    say(f"rebuilt disks {lose[0]} and {lose[1]}: the file reads back "
        f"{'bit-exact' if exact else 'WRONG'}")
    if args.json:
        print(json.dumps({"bytes": size, "stripes": stripes, "data_disks": n, "chunk": chunk,
                          "lost": lose, "bit_exact": exact, "write_ops": first_ops.get(
                              "write", []), "rebuild_ops": first_ops.get("rebuild", [])}))
    return 0 if exact else 1


def _lost_disks(text: str) -> list[int]:
    """``--lose A,B`` as two disk numbers, in order."""
    try:
        return sorted(int(x) for x in text.split(","))
    except ValueError:
        raise UsageError(f"raid: --lose {text}: two disk numbers, such as 0,1") from None


def _wait(clock: Any, tx: Any, issue_pending: Any) -> None:
    """Issue ``tx``'s channel and run the hardware until it is complete."""
    if tx is None:
        return  # the CPU did it
    issue_pending(tx.chan)
    from dma.dmaengine import DmaStatus

    ok = clock.run_until_true(lambda: tx.chan.device.device_tx_status(
        tx.chan, tx.cookie, None) in (DmaStatus.COMPLETE, DmaStatus.ERROR), 10**10)
    if not ok:
        raise UsageError("raid: the engine did not complete")


def _check(src: Any, size: int, n: int, chunk: int, disks: list, rebuilt: list,
           lose: list[int]) -> bool:
    """The file, read back a chunk at a time from the surviving and the rebuilt disks,
    against itself."""
    for f in [*disks, *rebuilt]:
        if not f.closed:
            f.seek(0)
    src.seek(0)
    left = size
    while left > 0:
        for i in range(n):
            f = rebuilt[lose.index(i)] if i in lose else disks[i]
            piece = f.read(chunk)[:left]
            if piece != src.read(len(piece)):
                return False
            left -= len(piece)
            if left <= 0:
                break
    return True


def add_parser(sub: Any) -> None:
    p = sub.add_parser("raid", help="stripe a file over N+2 simulated disks with P+Q from "
                       "the XOR/P+Q engine, lose two, rebuild them, check bit-exact")
    p.add_argument("input", metavar="FILE", help="the file to store")
    p.add_argument("--disks", type=int, default=4, help="data disks (2 to 16; default 4)")
    p.add_argument("--chunk", type=int, default=4096,
                   help="bytes of a chunk on one disk (a multiple of 8; default 4096)")
    p.add_argument("--lose", default="0,1", help="the two data disks that fail (default 0,1)")
    p.add_argument("--json", action="store_true", help="print a JSON summary as the last line")
    p.set_defaults(func=lambda args: raid_command(args, _say))


def _say(line: str) -> None:
    import sys

    print(line, file=sys.stderr)
