"""The prime field GF(p), p = 2^31 - 1 (a Mersenne prime), vectorized over numpy int64.

Why this prime: every element is below 2^31, so a product of two elements is below 2^62 and
fits int64 exactly; numpy then does the field arithmetic for whole arrays of Shamir shares at
once (no Python big integers, no overflow). Shamir secret sharing (`shamir.py`) lives here.
The masked model vectors live in the ring Z_{2^32} instead (`quantize.py`), where uint32
arithmetic wraps natively and PRG bytes are exactly uniform masks.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

P = (1 << 31) - 1  # the field's modulus
Array = np.ndarray


def add(a: Array, b: Array) -> Array:
    return (a + b) % P


def sub(a: Array, b: Array) -> Array:
    return (a - b) % P


def mul(a: Array, b: Array) -> Array:
    """``a * b mod p``; both below 2^31, so the product fits int64."""
    return (np.asarray(a, np.int64) * np.asarray(b, np.int64)) % P


def power(a: Array, e: int) -> Array:
    """``a ** e mod p`` elementwise by square-and-multiply (31 steps for e < p)."""
    base = np.asarray(a, np.int64) % P
    out = np.ones_like(base)
    while e:
        if e & 1:
            out = mul(out, base)
        base = mul(base, base)
        e >>= 1
    return out


def inv(a: Array) -> Array:
    """Multiplicative inverse by Fermat (a^(p-2)); zero has none."""
    a = np.asarray(a, np.int64) % P
    if np.any(a == 0):
        raise ZeroDivisionError("zero has no inverse in GF(p)")
    return power(a, P - 2)


def uniform(read: Callable[[int], bytes], shape: tuple[int, ...]) -> Array:
    """Exactly uniform elements of GF(p) from a random byte source ``read(n)``.

    31 random bits are uniform on [0, 2^31) = GF(p) plus the one value p; that value is
    rejected and redrawn (probability 2^-31 per element), so no element is favoured."""
    n = int(np.prod(shape, dtype=np.int64))
    out = np.frombuffer(read(4 * n), dtype="<u4").astype(np.int64) & P
    bad = np.flatnonzero(out == P)
    while len(bad):
        out[bad] = np.frombuffer(read(4 * len(bad)), dtype="<u4").astype(np.int64) & P
        bad = bad[out[bad] == P]
    return out.reshape(shape)
