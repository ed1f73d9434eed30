"""Float updates to integers the masks can hide, and back.

Masked vectors live in the ring Z_{2^32} (uint32): adding a uniform uint32 mask with wrap-around
is a one-time pad, the PRG's bytes are uniform masks as they come, and numpy's uint32 adds wrap
natively, with no reduction pass (measured: half the time of the same masking in GF(2^31 - 1)).

Quantization: clip every coordinate to [-c, c], then map it to an integer in [0, 2^b - 1] with
``q = round((x + c) * s)``, ``s = (2^b - 1) / (2c)``. The bit width b is the largest for which a
sum of n clients cannot wrap: ``n * (2^b - 1) <= 2^32 - 1``, so the modular sum *is* the integer
sum and decodes exactly. Error bound (documented and tested): rounding moves each coordinate by
at most ``1 / (2s) = c / (2^b - 1)``, so a sum of k decoded clients is off by at most
``k * c / (2^b - 1)`` per coordinate, plus whatever clipping removed from values outside
[-c, c] (counted, so a caller can see when c is too small). For c = 1: 100 clients get b = 25
bits and an error of at most 3.0e-6 per coordinate of the sum; 500 clients b = 23, 6.0e-5.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vega_lab.errors import SecureAggregationError

RING_BITS = 32
RING_DTYPE = np.uint32


def quantization_bits(num_clients: int) -> int:
    """The largest b with ``num_clients * (2^b - 1) < 2^32``: a sum of every client fits."""
    if num_clients < 1:
        raise SecureAggregationError(f"quantization needs at least 1 client, got {num_clients}")
    b = int(np.floor(np.log2((2**RING_BITS - 1) // num_clients + 1)))
    while num_clients * (2**b - 1) > 2**RING_BITS - 1:  # float log2 at a power of two
        b -= 1
    if b < 8:
        raise SecureAggregationError(
            f"{num_clients} clients leave only {b} bits per coordinate in a 32-bit ring",
            "aggregate fewer clients per secure sum (split them into groups)",
        )
    return b


@dataclass(frozen=True)
class Quantizer:
    """Clip to [-clip, clip] and scale into ``bits`` bits; sums of ``num_clients`` fit."""

    clip: float
    num_clients: int

    def __post_init__(self) -> None:
        if not (np.isfinite(self.clip) and self.clip > 0):
            raise SecureAggregationError(
                f"the clipping range must be a positive number, got {self.clip}",
                "pass clip=c so that updates lie in [-c, c]",
            )

    @property
    def bits(self) -> int:
        return quantization_bits(self.num_clients)

    @property
    def scale(self) -> float:
        return (2**self.bits - 1) / (2 * self.clip)

    def error_bound(self, summed: int) -> float:
        """Largest rounding error per coordinate of a decoded sum of ``summed`` clients."""
        return summed * self.clip / (2**self.bits - 1)

    def encode(self, x: np.ndarray) -> tuple[np.ndarray, int]:
        """(quantized uint32 vector, number of coordinates clipped)."""
        x = np.asarray(x, dtype=np.float64)
        clipped = int(np.count_nonzero(np.abs(x) > self.clip))
        q = np.rint((np.clip(x, -self.clip, self.clip) + self.clip) * self.scale)
        return q.astype(RING_DTYPE), clipped

    def decode_sum(self, total: np.ndarray, summed: int) -> np.ndarray:
        """The float sum of ``summed`` clients from the ring sum of their quantized vectors."""
        if summed > self.num_clients:
            raise SecureAggregationError(
                f"{summed} clients were summed but the quantizer was sized for "
                f"{self.num_clients}: the sum may have wrapped",
                "size the quantizer for every client that can take part",
            )
        return total.astype(np.float64) / self.scale - summed * self.clip
