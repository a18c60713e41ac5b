"""RAID-6 arithmetic on the CPU: GF(2^8), the P+Q syndrome and the recovery of two disks.

Counterpart: lib/raid6 (the tables of mktables.c: ``raid6_gfmul``, ``raid6_gfexp``,
``raid6_gfinv``, ``raid6_gfexi``; ``raid6_gen_syndrome``, ``raid6_2data_recov``,
``raid6_datap_recov``): what async_tx falls back to where no DMA channel can do P+Q.
The field is GF(2^8) with the polynomial x^8 + x^4 + x^3 + x^2 + 1 (0x11d) and the
generator {02}. Every operation is a numpy table lookup over whole blocks.
"""

from __future__ import annotations

import numpy as np

POLY = 0x11D


def _tables() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    exp = np.zeros(256, np.uint8)  # g^i
    log = np.zeros(256, np.int64)
    x = 1
    for i in range(255):
        exp[i] = x
        log[x] = i
        x <<= 1
        if x & 0x100:
            x ^= POLY
    exp[255] = exp[0]  # g^255 = 1, as mktables.c's raid6_gfexp holds it
    a = np.arange(256)
    mul = np.zeros((256, 256), np.uint8)
    nz = a[1:]
    mul[1:, 1:] = exp[(log[nz][:, None] + log[nz][None, :]) % 255]
    inv = np.zeros(256, np.uint8)
    inv[1:] = exp[(255 - log[nz]) % 255]
    return mul, exp, inv, log


raid6_gfmul, raid6_gfexp, raid6_gfinv, _LOG = _tables()
# raid6_gfexi[x] = 1 / (g^x + 1), what the two-data recovery multiplies by
raid6_gfexi = raid6_gfinv[raid6_gfexp ^ 1]


def gf_mul(c: int, data: np.ndarray) -> np.ndarray:
    """``c`` times every byte of ``data`` in GF(2^8)."""
    return raid6_gfmul[c][data]


def xor_blocks(srcs: list[np.ndarray]) -> np.ndarray:
    """``xor_blocks``: the XOR of equal-length blocks."""
    out = srcs[0].copy()
    for s in srcs[1:]:
        np.bitwise_xor(out, s, out=out)
    return out


def raid6_gen_syndrome(data: list[np.ndarray],
                       coefs: list[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``raid6_gen_syndrome``: P (the XOR) and Q (the sum of g^i times disk i) of the data
    disks; ``coefs`` gives Q's coefficients instead (async_gen_syndrome's ``scf``)."""
    coefs = coefs if coefs is not None else [int(raid6_gfexp[i]) for i in range(len(data))]
    p = xor_blocks(data)
    q = np.zeros_like(data[0])
    for c, d in zip(coefs, data, strict=True):
        np.bitwise_xor(q, gf_mul(c, d), out=q)
    return p, q


def raid6_2data_recov(data: list[np.ndarray], p: np.ndarray, q: np.ndarray, faila: int,
                      failb: int) -> tuple[np.ndarray, np.ndarray]:
    """``raid6_2data_recov``: data disks ``faila`` < ``failb`` lost (their blocks in
    ``data`` are ignored), rebuilt from the others, P and Q."""
    if not 0 <= faila < failb < len(data):
        raise ValueError(f"raid6_2data_recov: disks {faila} and {failb} of {len(data)}")
    rest = [d if i not in (faila, failb) else np.zeros_like(d) for i, d in enumerate(data)]
    pd, qd = raid6_gen_syndrome(rest)  # the syndrome with the two disks zero
    pbmul = raid6_gfmul[raid6_gfexi[failb - faila]]
    qmul = raid6_gfmul[raid6_gfinv[raid6_gfexp[faila] ^ raid6_gfexp[failb]]]
    px = p ^ pd
    qx = qmul[q ^ qd]
    db = pbmul[px] ^ qx
    da = db ^ px
    return da, db


def raid6_datap_recov(data: list[np.ndarray], q: np.ndarray,
                      faila: int) -> tuple[np.ndarray, np.ndarray]:
    """``raid6_datap_recov``: data disk ``faila`` and P lost; both rebuilt from Q and the
    other data disks."""
    rest = [d if i != faila else np.zeros_like(d) for i, d in enumerate(data)]
    pd, qd = raid6_gen_syndrome(rest)
    qmul = raid6_gfmul[raid6_gfinv[raid6_gfexp[faila]]]
    da = qmul[q ^ qd]
    return da, pd ^ da
