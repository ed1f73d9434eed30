"""Label flipping (data poisoning; e.g. Tolpegin et al. 2020, Fang et al. 2020): malicious
clients train honestly on wrong labels, l -> n_classes - 1 - l, or only ``source`` -> ``target``
when both are given. The updates look like ordinary training, which makes it hard to spot."""

from __future__ import annotations

import numpy as np

from vega_lab.errors import FederatedError
from vega_lab.federated.attacks.base import Attack


class LabelFlip(Attack):
    name = "label_flip"
    poisons_data = True

    def __init__(self, source: float | None = None, target: float | None = None) -> None:
        if (source is None) != (target is None):
            raise FederatedError(
                "label_flip: give both source and target, or neither (flip every label)"
            )
        self.source = None if source is None else int(source)
        self.target = None if target is None else int(target)

    def poison(
        self,
        x: np.ndarray,
        y: np.ndarray,
        *,
        n_classes: int,
        image_shape: tuple[int, int],
        rng: np.random.Generator,
    ) -> tuple[np.ndarray, np.ndarray]:
        if self.source is None:
            return x, (n_classes - 1 - y).astype(y.dtype)
        for label in (self.source, self.target):
            if not 0 <= label < n_classes:
                raise FederatedError(f"label_flip: label {label} is outside 0..{n_classes - 1}")
        return x, np.where(y == self.source, self.target, y).astype(y.dtype)
