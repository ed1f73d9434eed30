"""Attacks as simulated malicious clients, one module each, chosen by name.

Which clients are malicious is drawn once per run from the seed (`malicious_clients`) and
recorded; an `Adversary` applies the attack to them: on their training data (label flipping,
backdoor triggers) and to their rows of each round's stacked updates (everything else).

from vega_lab.federated import simulate
simulate(attack="alie", malicious_fraction=0.2, strategy="krum", strategy_options={"f": 2})
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from vega_lab.errors import FederatedError
from vega_lab.federated.attacks.alie import ALittleIsEnough
from vega_lab.federated.attacks.backdoor import Backdoor
from vega_lab.federated.attacks.base import Attack, NoAttack
from vega_lab.federated.attacks.gaussian import GaussianNoise
from vega_lab.federated.attacks.ipm import InnerProductManipulation
from vega_lab.federated.attacks.label_flip import LabelFlip
from vega_lab.federated.attacks.sign_flip import SignFlip
from vega_lab.registry import create

ATTACKS: dict[str, type[Attack]] = {
    a.name: a
    for a in (
        NoAttack,
        LabelFlip,
        SignFlip,
        GaussianNoise,
        Backdoor,
        ALittleIsEnough,
        InnerProductManipulation,
    )
}

_STREAM = 1013  # separates the attack's random streams from partitioning and training


def get_attack(name: str, **options: Any) -> Attack:
    """Instantiate an attack by registry name with its options."""
    return create(ATTACKS, name, "attack", options, FederatedError)


def malicious_clients(num_clients: int, fraction: float, seed: int) -> np.ndarray:
    """The malicious client ids (sorted): round(fraction x num_clients) of them, drawn from the
    seed alone, so every engine and every Flower client agrees on who they are."""
    if not 0 <= fraction < 1:
        raise FederatedError(f"malicious_fraction must be in [0, 1), got {fraction}")
    count = math.floor(fraction * num_clients + 0.5)
    rng = np.random.default_rng([seed, _STREAM])
    return np.sort(rng.choice(num_clients, size=count, replace=False))


@dataclass(frozen=True)
class Adversary:
    """An attack bound to its malicious clients and the run's seed."""

    attack: Attack
    malicious: frozenset[int]
    seed: int

    @classmethod
    def from_config(cls, config: Any) -> Adversary:
        """From a `FederatedConfig` (``attack``, ``attack_options``, ``malicious_fraction``)."""
        attack = get_attack(config.attack, **config.attack_options)
        if isinstance(attack, NoAttack) and config.malicious_fraction > 0:
            raise FederatedError(
                f"malicious_fraction={config.malicious_fraction} but no attack",
                f"choose an attack ({', '.join(a for a in ATTACKS if a != 'none')}) "
                "or set malicious_fraction=0",
            )
        ids = malicious_clients(config.num_clients, config.malicious_fraction, config.seed)
        return cls(attack, frozenset(int(i) for i in ids), config.seed)

    @property
    def active(self) -> bool:
        return bool(self.malicious) and not isinstance(self.attack, NoAttack)

    def mask(self, ids: np.ndarray) -> torch.Tensor:
        """``[C]`` bool: which of the round's participants are malicious."""
        return torch.tensor([int(c) in self.malicious for c in ids], dtype=torch.bool)

    def poison(
        self, cid: int, x: np.ndarray, y: np.ndarray, n_classes: int, image_shape: tuple[int, int]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Client ``cid``'s training arrays as it trains on them."""
        if cid not in self.malicious or not self.attack.poisons_data:
            return x, y
        rng = np.random.default_rng([self.seed, cid, _STREAM])
        return self.attack.poison(x, y, n_classes=n_classes, image_shape=image_shape, rng=rng)

    def tamper(self, rnd: int, ids: np.ndarray, deltas: torch.Tensor) -> torch.Tensor:
        """The round's stacked updates as the server receives them."""
        mask = self.mask(ids)
        if not mask.any():
            return deltas
        seed = np.random.SeedSequence([self.seed, rnd, _STREAM]).generate_state(1)[0]
        generator = torch.Generator().manual_seed(int(seed))
        return self.attack.tamper(deltas, mask, generator)


__all__ = ["ATTACKS", "Adversary", "Attack", "get_attack", "malicious_clients"]
