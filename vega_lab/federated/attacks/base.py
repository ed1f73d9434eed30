"""The attack interface: what a simulated malicious client does differently.

An attack can poison the malicious clients' training data (`poison`, before training: label
flipping, backdoor triggers), transform their updates after local training (`tamper`, one tensor
op over the stacked ``[C, n]`` deltas given the malicious mask; omniscient attacks read the
benign rows, as the papers assume), and report its own success (`metrics`, e.g. the backdoor's
success rate on the server's test set). Every hook defaults to "do nothing", so an attack
overrides only what it changes. Randomness comes from the generator passed in (seeded per round).
"""

from __future__ import annotations

from abc import ABC
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import torch

if TYPE_CHECKING:
    from vega_lab.federated.model import FlatModel


class Attack(ABC):
    """Base class; subclasses set ``name`` and override hooks. Options are constructor kwargs."""

    name: ClassVar[str]
    #: True when malicious clients train on altered data (the data/partition path changes).
    poisons_data: ClassVar[bool] = False

    def poison(
        self,
        x: np.ndarray,
        y: np.ndarray,
        *,
        n_classes: int,
        image_shape: tuple[int, int],
        rng: np.random.Generator,
    ) -> tuple[np.ndarray, np.ndarray]:
        """A malicious client's training arrays (new arrays; the inputs are read-only)."""
        return x, y

    def tamper(
        self, deltas: torch.Tensor, malicious: torch.Tensor, generator: torch.Generator
    ) -> torch.Tensor:
        """The updates the server receives: ``deltas`` ``[C, n]`` with the rows where
        ``malicious`` (``[C]`` bool) is True replaced; a new tensor."""
        return deltas

    def metrics(
        self,
        model: FlatModel,
        params: torch.Tensor,
        x: torch.Tensor,
        y: torch.Tensor,
        image_shape: tuple[int, int],
    ) -> dict[str, float]:
        """The attack's own success on the server's test set (x, y), per round."""
        return {}

    def options(self) -> dict[str, float]:
        """The hyperparameters, for the run record."""
        return {k: v for k, v in vars(self).items() if isinstance(v, int | float)}


class NoAttack(Attack):
    """Every client is honest."""

    name = "none"


def benign_stats(
    deltas: torch.Tensor, malicious: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Mean and standard deviation of the benign rows (None when every row is malicious: then
    there is nothing to imitate). One benign row has standard deviation 0."""
    benign = deltas[~malicious]
    if len(benign) == 0:
        return None
    std = benign.std(0) if len(benign) > 1 else torch.zeros_like(benign[0])
    return benign.mean(0), std
