"""Update compression for federated learning, vectorized over clients.

Uplink bandwidth is the bottleneck of cross-device federated learning, so clients send lossy
encodings of their updates. Here a compressor simulates encode + decode in one step over a
``[C, n]`` stack of flat updates (one row per client, no Python loop over clients) and reports
the exact wire size per client, so an engine can chart accuracy against bytes sent.

Lossy compressors can keep *error feedback* state (Stich et al. 2018, "Sparsified SGD with
memory"; Karimireddy et al. 2019, "Error feedback fixes SignSGD"): what a client did not send
this round is added to its next update, so nothing is lost, only delayed. The state is passed in
and returned explicitly (``residual``), like every algorithm in vega_lab.

Wire sizes assume float32 values and int32 indices, whatever dtype the simulation runs in.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import ClassVar

import torch
from torch import Tensor

from vega_lab.errors import ConfigError, ShapeMismatchError
from vega_lab.registry import create

__all__ = [
    "COMPRESSORS",
    "Q8",
    "Compressor",
    "NoCompression",
    "TopK",
    "bytes_dense",
    "get_compressor",
]

Compressed = tuple[Tensor, Tensor | None, int]


def bytes_dense(n: int) -> int:
    """Wire size of one uncompressed float32 update of ``n`` parameters."""
    return 4 * n


def _check(updates: Tensor, residual: Tensor | None) -> None:
    if not isinstance(updates, Tensor) or updates.dim() != 2:
        shape = tuple(updates.shape) if isinstance(updates, Tensor) else type(updates).__name__
        raise ShapeMismatchError(
            f"updates must be a [clients, params] tensor, got {shape}",
            "flatten each client's update and stack them: torch.stack([u.flatten() ...])",
        )
    if not updates.is_floating_point():
        raise ConfigError(
            f"updates must be floating point, got {updates.dtype}", "cast them with .float()"
        )
    if residual is not None and (
        not isinstance(residual, Tensor)
        or residual.shape != updates.shape
        or residual.dtype != updates.dtype
        or residual.device != updates.device
    ):
        got = (
            f"{tuple(residual.shape)} {residual.dtype} on {residual.device}"
            if isinstance(residual, Tensor)
            else type(residual).__name__
        )
        raise ShapeMismatchError(
            f"residual must match updates ({tuple(updates.shape)} {updates.dtype} on "
            f"{updates.device}), got {got}",
            "pass the residual this compressor returned last round, or None in the first round",
        )


class Compressor(ABC):
    """Encode + decode a ``[C, n]`` stack of client updates; report bytes per client."""

    name: ClassVar[str]

    @abstractmethod
    def compress(self, updates: Tensor, residual: Tensor | None = None) -> Compressed:
        """Return ``(decoded [C, n], new_residual [C, n] or None, bytes_per_client)``.

        ``decoded`` is what the server receives. Inputs are never modified.
        """

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


class NoCompression(Compressor):
    """Identity: the dense float32 baseline every compressor is compared with."""

    name = "none"

    def compress(self, updates: Tensor, residual: Tensor | None = None) -> Compressed:
        _check(updates, residual)
        return updates.clone(), None, bytes_dense(updates.shape[1])


class TopK(Compressor):
    """Send the ``ceil(ratio * n)`` largest-magnitude coordinates per client, with error feedback.

    Wire format per client: an int32 count ``k``, then ``k`` (float32 value, int32 index) pairs.
    """

    name = "topk"

    def __init__(self, ratio: float) -> None:
        if isinstance(ratio, bool) or not isinstance(ratio, int | float) or not 0 < ratio <= 1:
            raise ConfigError(
                f"top-k ratio must be in (0, 1], got {ratio!r}",
                "e.g. ratio=0.01 keeps 1% of the coordinates per client",
            )
        self.ratio = float(ratio)

    def k(self, n: int) -> int:
        """Coordinates kept out of ``n``; rounding guards ``0.07 * 100 == 7.000000000000001``."""
        return min(n, max(1, math.ceil(round(self.ratio * n, 6))))

    def compress(self, updates: Tensor, residual: Tensor | None = None) -> Compressed:
        _check(updates, residual)
        acc = updates if residual is None else updates + residual
        n = acc.shape[1]
        k = self.k(n)
        idx = torch.topk(acc.abs(), k, dim=1, sorted=False).indices
        sent = torch.zeros_like(acc).scatter_(1, idx, acc.gather(1, idx))
        return sent, acc - sent, 4 + 8 * k


class Q8(Compressor):
    """Per-client affine 8-bit quantization with round-to-nearest, optionally error feedback.

    Wire format per client: float32 minimum, float32 scale, then ``n`` uint8 codes. Decoded
    values are ``min + code * scale`` with ``scale = (max - min) / 255``, so the error per
    coordinate is at most ``scale / 2``. A constant row is sent exactly (scale 0). Without error
    feedback the ``residual`` argument is ignored and ``None`` is returned.
    """

    name = "q8"
    LEVELS: ClassVar[int] = 255

    def __init__(self, error_feedback: bool = True) -> None:
        self.error_feedback = bool(error_feedback)

    def compress(self, updates: Tensor, residual: Tensor | None = None) -> Compressed:
        _check(updates, residual)
        n = updates.shape[1]
        if n == 0:
            empty = updates.clone()
            return empty, (empty.clone() if self.error_feedback else None), 8
        use_residual = self.error_feedback and residual is not None
        acc = updates + residual if use_residual else updates
        lo = acc.amin(dim=1, keepdim=True)
        scale = (acc.amax(dim=1, keepdim=True) - lo) / self.LEVELS
        safe = torch.where(scale > 0, scale, torch.ones_like(scale))
        codes = torch.round((acc - lo) / safe).clamp_(0, self.LEVELS)
        decoded = lo + codes * scale
        new_residual = acc - decoded if self.error_feedback else None
        return decoded, new_residual, n + 8


COMPRESSORS: dict[str, type[Compressor]] = {cls.name: cls for cls in (NoCompression, TopK, Q8)}


def get_compressor(name: str, **kwargs: object) -> Compressor:
    """Build a compressor by registry name, e.g. ``get_compressor("topk", ratio=0.01)``."""
    return create(COMPRESSORS, name, "compressor", kwargs, ConfigError)
