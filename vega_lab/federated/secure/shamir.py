"""Shamir t-of-n secret sharing over GF(2^31 - 1), vectorized.

A 32-byte secret (a self-mask seed or an X25519 private key) is split into 9 limbs of 30 bits,
each a field element; every limb is the constant term of its own random polynomial of degree
t - 1, and holder x gets the polynomial values at x (a 36-byte share). Any t shares give the
secret back by Lagrange interpolation at 0; t - 1 shares are uniformly distributed whatever
the secret, so they say nothing about it. Holders' x coordinates are their client ids (>= 1).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from vega_lab.errors import SecureAggregationError
from vega_lab.federated.secure import field

SECRET_BYTES = 32
LIMB_BITS = 30
LIMBS = -(-SECRET_BYTES * 8 // LIMB_BITS)  # 9
SHARE_BYTES = 4 * LIMBS  # 36


def to_limbs(secret: bytes) -> np.ndarray:
    """A 32-byte secret as ``LIMBS`` field elements (little-endian 30-bit digits)."""
    if len(secret) != SECRET_BYTES:
        raise SecureAggregationError(f"secrets are {SECRET_BYTES} bytes, got {len(secret)}")
    v = int.from_bytes(secret, "little")
    mask = (1 << LIMB_BITS) - 1
    return np.array([(v >> (LIMB_BITS * i)) & mask for i in range(LIMBS)], dtype=np.int64)


def from_limbs(limbs: np.ndarray) -> bytes:
    """Inverse of `to_limbs`; limbs that do not fit (a wrong reconstruction) are refused."""
    v = 0
    for i, limb in enumerate(np.asarray(limbs, dtype=np.int64).tolist()):
        if not 0 <= limb < 1 << LIMB_BITS:
            raise SecureAggregationError(
                "a reconstructed secret is not a valid 32-byte value",
                "the shares are corrupt or come from different secrets",
            )
        v |= limb << (LIMB_BITS * i)
    if v >> (8 * SECRET_BYTES):
        raise SecureAggregationError(
            "a reconstructed secret is not a valid 32-byte value",
            "the shares are corrupt or come from different secrets",
        )
    return v.to_bytes(SECRET_BYTES, "little")


def check_threshold(threshold: int, holders: int) -> None:
    """t-of-m sharing must be reconstructible (t <= m) and secure (t >= 2, t > m/2: the server
    cannot be given both halves of a client's secrets by honest holders)."""
    if threshold > holders:
        raise SecureAggregationError(
            f"threshold {threshold} exceeds the {holders} share holders: nothing could be "
            "reconstructed",
            f"use a threshold of at most {holders}",
        )
    if threshold < 2 or 2 * threshold <= holders:
        raise SecureAggregationError(
            f"threshold {threshold} of {holders} share holders is insecure: it must be at "
            "least 2 and more than half the holders",
            f"use a threshold of at least {max(2, holders // 2 + 1)}",
        )


def share(
    secrets: np.ndarray, threshold: int, xs: Sequence[int], read: Callable[[int], bytes]
) -> np.ndarray:
    """Shares of ``secrets`` (``[..., LIMBS]`` field elements) for holders ``xs``:
    ``[len(xs), ..., LIMBS]``. ``read`` supplies the random coefficients' bytes."""
    x = np.asarray(xs, dtype=np.int64)
    if len(set(x.tolist())) != len(x) or np.any(x <= 0) or np.any(x >= field.P):
        raise SecureAggregationError("share holders need distinct ids in [1, p)")
    if not 1 <= threshold <= len(x):
        raise SecureAggregationError(
            f"threshold {threshold} must be between 1 and the {len(x)} holders"
        )
    secrets = np.asarray(secrets, dtype=np.int64)
    coeffs = field.uniform(read, (threshold - 1, *secrets.shape))
    xb = x.reshape(-1, *([1] * secrets.ndim))
    acc = np.zeros((len(x), *secrets.shape), dtype=np.int64)
    for c in coeffs[::-1]:  # Horner: a_{t-1} x^{t-1} + ... + a_1 x + secret
        acc = field.mul(acc + c, xb)
    return (acc + secrets) % field.P


def lagrange_at_zero(xs: np.ndarray) -> np.ndarray:
    """Lagrange weights at 0 for each row of holder ids ``[R, t]`` -> ``[R, t]``:
    ``l_j = prod_{m != j} x_m / (x_m - x_j)``, every row at once."""
    x = np.asarray(xs, dtype=np.int64)
    r, t = x.shape
    num = np.ones((r, t), dtype=np.int64)
    den = np.ones((r, t), dtype=np.int64)
    for m in range(t):
        other = np.arange(t) != m
        num[:, other] = field.mul(num[:, other], x[:, m : m + 1])
        den[:, other] = field.mul(den[:, other], field.sub(x[:, m : m + 1], x[:, other]))
    return field.mul(num, field.inv(den))


def reconstruct(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Secrets from shares: ``xs [R, t]`` holder ids, ``ys [R, t, ...]`` their shares ->
    ``[R, ...]``. Exactly t shares per row; with fewer the result is garbage, not an error
    (callers check counts: `reconstruct_secrets`)."""
    lam = lagrange_at_zero(xs)
    lam = lam.reshape(*lam.shape, *([1] * (ys.ndim - 2)))
    return field.mul(lam, ys).sum(axis=1) % field.P


def share_secret(
    secret: bytes, threshold: int, xs: Sequence[int], read: Callable[[int], bytes]
) -> list[bytes]:
    """One 32-byte secret as ``len(xs)`` byte shares (36 bytes each)."""
    shares = share(to_limbs(secret), threshold, xs, read)
    return [s.astype("<u4").tobytes() for s in shares]


def decode_share(raw: bytes) -> np.ndarray:
    if len(raw) != SHARE_BYTES:
        raise SecureAggregationError(f"a share is {SHARE_BYTES} bytes, got {len(raw)}")
    limbs = np.frombuffer(raw, dtype="<u4").astype(np.int64)
    if np.any(limbs >= field.P):
        raise SecureAggregationError("a share holds a value outside the field: it is corrupt")
    return limbs


def reconstruct_secrets(
    shares: Sequence[Mapping[int, bytes]], threshold: int, what: Sequence[str] | None = None
) -> list[bytes]:
    """Many 32-byte secrets at once, each from its own ``{holder id: share}`` (the first
    ``threshold`` holders by id are used). Fewer than ``threshold`` shares is an error naming
    the secret, never a silently wrong value."""
    if not shares:
        return []
    rows_x, rows_y = [], []
    for i, got in enumerate(shares):
        if len(got) < threshold:
            name = what[i] if what is not None else f"secret {i}"
            raise SecureAggregationError(
                f"{name}: {len(got)} shares arrived, {threshold} are needed to reconstruct it",
                "too many share holders dropped out: lower the dropout, or use more share "
                "holders (num_shares) per client",
            )
        ids = sorted(got)[:threshold]
        rows_x.append(ids)
        rows_y.append([decode_share(got[j]) for j in ids])
    limbs = reconstruct(np.array(rows_x), np.array(rows_y))
    return [from_limbs(row) for row in limbs]
