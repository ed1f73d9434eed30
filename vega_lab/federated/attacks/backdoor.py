"""Backdoor by scaled model replacement (Bagdasaryan et al. 2020, "How To Backdoor Federated
Learning"). Malicious clients stamp a trigger (a bright square in the image's bottom-right
corner) on a share of their examples and relabel them ``target``; after local training they
scale their update by gamma so that it survives averaging with the benign ones. The paper's one
attacker uses gamma = n / eta (n clients in the round, server learning rate eta); here the m
attackers of a round share the replacement, gamma = n / (eta m). ``boost`` fixes gamma.

Success is the share of server test examples of another class that the model, with the trigger
stamped on, classifies as ``target``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from vega_lab.errors import FederatedError
from vega_lab.federated.attacks.base import Attack

if TYPE_CHECKING:
    from vega_lab.federated.model import FlatModel


def trigger_columns(image_shape: tuple[int, int], size: int) -> list[int]:
    """Flat feature indices of the ``size`` x ``size`` bottom-right square."""
    h, w = image_shape
    if not 1 <= size <= min(h, w):
        raise FederatedError(f"backdoor: trigger_size must be in 1..{min(h, w)}, got {size}")
    return [(h - size + i) * w + (w - size + j) for i in range(size) for j in range(size)]


def stamp(x, image_shape: tuple[int, int], size: int):  # numpy or torch, [N, features]
    """A copy of ``x`` with the trigger set to the brightest value (features are in [0, 1])."""
    out = x.copy() if isinstance(x, np.ndarray) else x.clone()
    out[:, trigger_columns(image_shape, size)] = 1.0
    return out


class Backdoor(Attack):
    name = "backdoor"
    poisons_data = True

    def __init__(
        self,
        target: float = 0,
        poison_fraction: float = 0.5,
        trigger_size: float = 2,
        boost: float | None = None,
        eta: float = 1.0,
    ) -> None:
        if not 0 < poison_fraction <= 1:
            raise FederatedError(
                f"backdoor: poison_fraction must be in (0, 1], got {poison_fraction}"
            )
        if boost is not None and not boost > 0:
            raise FederatedError(f"backdoor: boost must be > 0, got {boost}")
        if not eta > 0:
            raise FederatedError(f"backdoor: eta must be > 0, got {eta}")
        self.target, self.trigger_size = int(target), int(trigger_size)
        self.poison_fraction, self.boost, self.eta = poison_fraction, boost, eta

    def _check_target(self, n_classes: int) -> None:
        if not 0 <= self.target < n_classes:
            raise FederatedError(f"backdoor: target {self.target} is outside 0..{n_classes - 1}")

    def poison(
        self,
        x: np.ndarray,
        y: np.ndarray,
        *,
        n_classes: int,
        image_shape: tuple[int, int],
        rng: np.random.Generator,
    ) -> tuple[np.ndarray, np.ndarray]:
        self._check_target(n_classes)
        k = round(self.poison_fraction * len(y))
        idx = rng.choice(len(y), size=k, replace=False)
        x, y = x.copy(), y.copy()
        x[idx] = stamp(x[idx], image_shape, self.trigger_size)
        y[idx] = self.target
        return x, y

    def tamper(
        self, deltas: torch.Tensor, malicious: torch.Tensor, generator: torch.Generator
    ) -> torch.Tensor:
        m = int(malicious.sum())
        if m == 0:
            return deltas
        gamma = self.boost if self.boost is not None else len(deltas) / (self.eta * m)
        return torch.where(malicious[:, None], gamma * deltas, deltas)

    def metrics(
        self,
        model: FlatModel,
        params: torch.Tensor,
        x: torch.Tensor,
        y: torch.Tensor,
        image_shape: tuple[int, int],
    ) -> dict[str, float]:
        other = y != self.target
        if not other.any():
            return {"backdoor_success": float("nan")}
        triggered = stamp(x[other], image_shape, self.trigger_size)
        with torch.no_grad():
            pred = model.logits(params, triggered).argmax(1)
        return {"backdoor_success": (pred == self.target).double().mean().item()}
