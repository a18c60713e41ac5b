"""The XOR/P+Q engine model, by its registers and hand-built descriptors: its GF(2^8)
multiplier against the CPU's tables, XOR, P+Q (and its continuation), validations that
flag what is not zero, null descriptors, chains and their interrupts."""

from __future__ import annotations

import struct

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from dma import raid6
from soc import adma as hw
from soc.bus import Bus
from soc.clock import VirtualClock
from soc.irq import InterruptController

RAM, BASE, IRQ = 0x8000_0000, 0x1015_0000, 17
DESC = RAM + 0x1000
DATA = RAM + 0x10000


class Engine:
    def __init__(self) -> None:
        self.clock = VirtualClock()
        self.bus = Bus(self.clock.hw_lock, self.clock)
        self.bus.add_ram("ram", RAM, 16 << 20)
        self.irqc = InterruptController(self.clock)
        self.hw = hw.Adma(self.bus, self.clock, self.irqc, IRQ, BASE)
        self.irqs = 0
        self.irqc.request_irq(IRQ, self._irq, "test")

    def _irq(self, line: int) -> None:
        self.irqs += 1
        for n in range(len(self.hw.channels)):  # acknowledge everything
            self.bus.write32(BASE + n * hw.CH_STRIDE + hw.CSR, 0xE)

    def put(self, addr: int, data: bytes) -> None:
        self.bus.ram_view(addr, len(data), True)[:] = np.frombuffer(data, np.uint8)

    def get(self, addr: int, n: int) -> bytes:
        return bytes(self.bus.ram_view(addr, n, False))

    def desc(self, addr: int, op: int, nbytes: int, srcs: list[int], dest: int = 0,
             q: int = 0, coefs: bytes = b"", nxt: int = 0, flags: int = 0) -> None:
        words = [nxt, op | (len(srcs) << hw.CTRL_SRC_SHIFT) | flags, nbytes, dest, q, 0]
        words += srcs + [0] * (16 - len(srcs))
        self.put(addr, struct.pack("<22I", *words) + coefs.ljust(16, b"\0"))

    def status(self, addr: int) -> int:
        return struct.unpack("<I", self.get(addr + 4 * hw.D_STATUS, 4))[0]

    def start(self, addr: int, ch: int = 0) -> None:
        self.bus.write32(BASE + ch * hw.CH_STRIDE + hw.IMR, 0xE)
        self.bus.write32(BASE + ch * hw.CH_STRIDE + hw.NDAR, addr)
        self.bus.write32(BASE + ch * hw.CH_STRIDE + hw.CCR, hw.CCR_ENABLE)

    def run(self) -> None:
        assert self.clock.run_until_true(lambda: not any(c.cdar for c in self.hw.channels),
                                         10**9)


def test_the_engines_multiplier_is_the_fields():
    data = np.arange(256, dtype=np.uint8)
    for c in range(256):
        assert np.array_equal(hw.gf_mul_engine(c, data), raid6.raid6_gfmul[c][data])


sources = st.integers(1, 16).flatmap(lambda n: st.sampled_from([8, 64, 512, 4096]).flatmap(
    lambda size: st.lists(st.binary(min_size=size, max_size=size), min_size=n, max_size=n)))


@given(srcs=sources, coefs=st.binary(min_size=16, max_size=16))
def test_xor_and_pq_are_the_cpus(srcs, coefs):
    e = Engine()
    n = len(srcs[0])
    addrs = [DATA + i * 0x2000 for i in range(len(srcs))]
    for a, s in zip(addrs, srcs, strict=True):
        e.put(a, s)
    out, p_addr, q_addr = RAM + 0x100000, RAM + 0x110000, RAM + 0x120000
    e.desc(DESC, hw.OP_XOR, n, addrs, out, nxt=DESC + hw.DESC_BYTES)
    e.desc(DESC + hw.DESC_BYTES, hw.OP_PQ, n, addrs, p_addr, q_addr, coefs,
           flags=hw.CTRL_INT)
    e.start(DESC)
    e.run()
    arrays = [np.frombuffer(s, np.uint8) for s in srcs]
    p, q = raid6.raid6_gen_syndrome(arrays, list(coefs[:len(srcs)]))
    assert e.get(out, n) == p.tobytes() == e.get(p_addr, n)
    assert e.get(q_addr, n) == q.tobytes()
    assert e.status(DESC) == e.status(DESC + hw.DESC_BYTES) == hw.ST_DONE
    assert e.irqs == 1  # the INT descriptor's, and the end of the chain's with it
    # time: each descriptor reads its sources once, at 1600 bytes a microsecond
    assert e.clock.now_ns == -(-2 * n * len(srcs) * 1000 // 1600)


def test_a_continued_pq_adds_to_what_p_and_q_hold():
    e = Engine()
    a = [np.random.default_rng(i).integers(0, 256, 256, np.uint8) for i in range(6)]
    for i, x in enumerate(a):
        e.put(DATA + i * 0x1000, x.tobytes())
    srcs = [DATA + i * 0x1000 for i in range(6)]
    coefs = bytes(int(raid6.raid6_gfexp[i]) for i in range(6))
    p_addr, q_addr = RAM + 0x100000, RAM + 0x110000
    e.desc(DESC, hw.OP_PQ, 256, srcs[:3], p_addr, q_addr, coefs[:3], nxt=DESC + 128)
    e.desc(DESC + 128, hw.OP_PQ, 256, srcs[3:], p_addr, q_addr, coefs[3:],
           flags=hw.CTRL_CONT)
    e.start(DESC)
    e.run()
    p, q = raid6.raid6_gen_syndrome(a)
    assert e.get(p_addr, 256) == p.tobytes() and e.get(q_addr, 256) == q.tobytes()


def test_validations_flag_what_is_not_zero():
    e = Engine()
    a = [np.random.default_rng(i).integers(0, 256, 128, np.uint8) for i in range(4)]
    p, q = raid6.raid6_gen_syndrome(a)
    for i, x in enumerate([*a, p, q]):
        e.put(DATA + i * 0x1000, x.tobytes())
    srcs = [DATA + i * 0x1000 for i in range(4)]
    p_addr, q_addr = DATA + 4 * 0x1000, DATA + 5 * 0x1000
    coefs = bytes(int(raid6.raid6_gfexp[i]) for i in range(4))
    e.desc(DESC, hw.OP_XOR_VAL, 128, [*srcs, p_addr], nxt=DESC + 128)
    e.desc(DESC + 128, hw.OP_PQ_VAL, 128, srcs, p_addr, q_addr, coefs, nxt=DESC + 256)
    e.start(DESC)
    e.run()
    assert e.status(DESC) == e.status(DESC + 128) == hw.ST_DONE  # both sums zero
    e.put(DATA + 2 * 0x1000 + 7, b"\x01")  # a bit flipped in a data disk
    e.desc(DESC + 256, hw.OP_PQ_VAL, 128, srcs, p_addr, q_addr, coefs)
    e.start(DESC + 256)
    e.run()
    assert e.status(DESC + 256) == hw.ST_DONE | hw.ST_P_FAIL | hw.ST_Q_FAIL


def test_a_null_descriptor_interrupts_at_once_and_a_bad_address_stops_the_channel():
    e = Engine()
    e.desc(DESC, hw.OP_NULL, 0, [], flags=hw.CTRL_INT)
    e.start(DESC)
    assert e.irqs == 1 and e.status(DESC) == hw.ST_DONE and not e.hw.channels[0].cdar
    e.desc(DESC + 128, hw.OP_XOR, 64, [0x10], RAM)  # a source no region decodes
    e.start(DESC + 128)
    e.run()
    assert e.irqs == 2
    assert e.bus.read32(BASE + hw.CSR) & hw.CSR_BUSY == 0


def test_more_work_linked_behind_a_running_chain_is_done():
    e = Engine()
    e.put(DATA, bytes(range(256)) * 16)
    e.desc(DESC, hw.OP_MEMCPY, 4096, [DATA], RAM + 0x100000)
    e.start(DESC)
    e.clock.run_until(e.clock.now_ns + 1000)  # a quarter of the way
    e.desc(DESC + 128, hw.OP_MEMCPY, 4096, [DATA], RAM + 0x200000)
    e.put(DESC, struct.pack("<I", DESC + 128))  # NEXT of the running descriptor
    e.run()
    assert e.get(RAM + 0x200000, 4096) == bytes(range(256)) * 16
