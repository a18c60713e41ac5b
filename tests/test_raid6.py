"""dma/raid6.py against an independent reference of GF(2^8), written from the RAID-6
paper's definitions (H. Peter Anvin, "The mathematics of RAID-6"): polynomial
multiplication of bytes modulo x^8 + x^4 + x^3 + x^2 + 1, the generator {02}, P the sum
and Q the sum of g^i D_i of the data disks; two lost disks come back bit-exact."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dma import raid6


def ref_mul(a: int, b: int) -> int:
    """a times b: shift-and-add of the polynomials, reduced by 0x11d as it goes."""
    out = 0
    while b:
        if b & 1:
            out ^= a
        b >>= 1
        a <<= 1
        if a & 0x100:
            a ^= 0x11D
    return out


def ref_pow(g: int, n: int) -> int:
    out = 1
    for _ in range(n):
        out = ref_mul(out, g)
    return out


def ref_syndrome(data: list[bytes]) -> tuple[bytes, bytes]:
    n = len(data[0])
    p = bytes(n)
    q = bytes(n)
    for i, d in enumerate(data):
        gi = ref_pow(2, i)
        p = bytes(x ^ y for x, y in zip(p, d, strict=True))
        q = bytes(x ^ ref_mul(gi, y) for x, y in zip(q, d, strict=True))
    return p, q


def test_the_tables_are_the_fields():
    for a in range(256):
        for b in (0, 1, 2, 3, 0x1D, 0x8E, 0xFF, a):
            assert raid6.raid6_gfmul[a][b] == ref_mul(a, b)
    assert [int(raid6.raid6_gfexp[i]) for i in range(256)] == [ref_pow(2, i % 255)
                                                               for i in range(256)]
    assert len(set(raid6.raid6_gfexp[:255].tolist())) == 255  # {02} generates the field
    for a in range(1, 256):
        assert ref_mul(a, int(raid6.raid6_gfinv[a])) == 1
    for x in range(1, 255):
        assert ref_mul(int(raid6.raid6_gfexi[x]), ref_pow(2, x) ^ 1) == 1


blocks = st.integers(1, 16).flatmap(lambda n: st.integers(1, 300).flatmap(
    lambda size: st.lists(st.binary(min_size=size, max_size=size), min_size=n,
                          max_size=n)))


@given(data=blocks)
def test_the_syndrome_is_the_papers(data):
    arrays = [np.frombuffer(d, np.uint8) for d in data]
    p, q = raid6.raid6_gen_syndrome(arrays)
    rp, rq = ref_syndrome(data)
    assert p.tobytes() == rp and q.tobytes() == rq


@given(data=blocks, coefs=st.lists(st.integers(0, 255), min_size=16, max_size=16))
def test_q_with_given_coefficients_is_their_sum(data, coefs):
    arrays = [np.frombuffer(d, np.uint8) for d in data]
    _, q = raid6.raid6_gen_syndrome(arrays, coefs[:len(data)])
    want = bytes(len(data[0]))
    for c, d in zip(coefs, data, strict=False):
        want = bytes(x ^ ref_mul(c, y) for x, y in zip(want, d, strict=True))
    assert q.tobytes() == want


@given(data=st.integers(2, 16).flatmap(lambda n: st.lists(
    st.binary(min_size=64, max_size=64), min_size=n, max_size=n)), pick=st.data())
def test_any_two_lost_data_disks_come_back(data, pick):
    arrays = [np.frombuffer(d, np.uint8) for d in data]
    p, q = raid6.raid6_gen_syndrome(arrays)
    a = pick.draw(st.integers(0, len(data) - 2))
    b = pick.draw(st.integers(a + 1, len(data) - 1))
    lost = [x if i not in (a, b) else np.full(64, 0xEE, np.uint8)
            for i, x in enumerate(arrays)]
    da, db = raid6.raid6_2data_recov(lost, p, q, a, b)
    assert da.tobytes() == data[a] and db.tobytes() == data[b]


@given(data=st.integers(1, 16).flatmap(lambda n: st.lists(
    st.binary(min_size=32, max_size=32), min_size=n, max_size=n)), pick=st.data())
def test_a_lost_data_disk_and_p_come_back_from_q(data, pick):
    arrays = [np.frombuffer(d, np.uint8) for d in data]
    p, q = raid6.raid6_gen_syndrome(arrays)
    a = pick.draw(st.integers(0, len(data) - 1))
    lost = [x if i != a else np.zeros(32, np.uint8) for i, x in enumerate(arrays)]
    da, pp = raid6.raid6_datap_recov(lost, q, a)
    assert da.tobytes() == data[a] and pp.tobytes() == p.tobytes()


def test_the_recovery_refuses_disks_out_of_order():
    d = [np.zeros(4, np.uint8)] * 3
    with pytest.raises(ValueError):
        raid6.raid6_2data_recov(d, d[0], d[0], 2, 1)
