"""Models as flat parameter vectors, so strategies, compression and serialization are plain
tensor maths over ``[n]`` (the server) and ``[C, n]`` (C clients stacked).

`TorchModel` wraps any ``nn.Module`` without buffers that change in training (no BatchNorm
running stats): the parameters live outside the module and enter through
``torch.func.functional_call``, which is what lets the vectorized engine ``vmap`` over clients.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import nn
from torch.func import functional_call

from vega_lab.errors import FederatedError, ShapeMismatchError


@dataclass(frozen=True)
class ParamSpec:
    """Names and shapes of a model's trainable tensors, in a fixed order."""

    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]

    @property
    def numels(self) -> list[int]:
        return [math.prod(s) for s in self.shapes]

    @property
    def size(self) -> int:
        return sum(self.numels)

    def unflatten(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """Views into ``flat`` (``[n]``); differentiable and vmap-friendly."""
        chunks = torch.split(flat, self.numels, dim=-1)
        lead = flat.shape[:-1]
        return {
            n: c.reshape(*lead, *s) for n, c, s in zip(self.names, chunks, self.shapes, strict=True)
        }

    def flatten(self, tensors: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Check names and shapes against the spec, then concatenate."""
        missing = [n for n in self.names if n not in tensors]
        extra = [n for n in tensors if n not in self.names]
        if missing or extra:
            raise ShapeMismatchError(
                f"model tensors differ from the global model: missing {missing}, "
                f"unexpected {extra}",
                "every client must use the same architecture as the server",
            )
        for name, shape in zip(self.names, self.shapes, strict=True):
            got = tuple(tensors[name].shape)
            if got != shape:
                raise ShapeMismatchError(
                    f"tensor {name!r} has shape {list(got)}, the global model has {list(shape)}",
                    "every client must use the same architecture as the server",
                )
        return torch.cat([tensors[n].reshape(-1).float() for n in self.names])

    def check_flat(self, flat: torch.Tensor, who: str = "update") -> None:
        if flat.shape[-1] != self.size:
            raise ShapeMismatchError(
                f"{who} has {flat.shape[-1]} parameters, the global model has {self.size}",
                "every client must use the same architecture as the server",
            )


class FlatModel(Protocol):
    """What the engines need of a model, whatever framework runs it."""

    spec: ParamSpec

    def initial_params(self) -> torch.Tensor: ...

    def loss_and_grad(
        self, flat: torch.Tensor, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]: ...

    def logits(self, flat: torch.Tensor, x: torch.Tensor) -> torch.Tensor: ...


class TorchModel:
    """A torch module seen as a function of one flat parameter vector."""

    vectorizable = True

    def __init__(self, module: nn.Module) -> None:
        if any(True for _ in module.buffers()):
            raise FederatedError(
                f"{type(module).__name__} has buffers (e.g. BatchNorm running statistics)",
                "use GroupNorm/LayerNorm or no normalization for federated simulation",
            )
        self.module = module
        named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        if not named:
            raise FederatedError(f"{type(module).__name__} has no trainable parameters")
        self.spec = ParamSpec(tuple(n for n, _ in named), tuple(tuple(p.shape) for _, p in named))
        self._init = torch.cat([p.detach().reshape(-1).float() for _, p in named]).clone()

    def initial_params(self) -> torch.Tensor:
        return self._init.clone()

    def loss(
        self, flat: torch.Tensor, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        """Mean cross-entropy over the unmasked rows (0 when all are masked)."""
        out = functional_call(self.module, self.spec.unflatten(flat), (x,))
        per = nn.functional.cross_entropy(out, y, reduction="none")
        return (per * mask).sum() / mask.sum().clamp(min=1.0)

    def loss_and_grad(
        self, flat: torch.Tensor, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        flat = flat.detach().requires_grad_(True)
        with torch.enable_grad():
            loss = self.loss(flat, x, y, mask)
            (grad,) = torch.autograd.grad(loss, flat)
        return loss.detach(), grad

    @torch.no_grad()
    def logits(self, flat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return functional_call(self.module, self.spec.unflatten(flat), (x,))
