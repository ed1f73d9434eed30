"""The data side of a simulation: a server test set and each client's train (and optional local
test) arrays, built deterministically from the config. Flower clients rebuild only their own
share from the same config, so nothing but model tensors crosses the wire."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vega_lab.datasets.shipped import Dataset, load_dataset, train_test_split
from vega_lab.errors import PartitionError
from vega_lab.federated.attacks import Adversary
from vega_lab.federated.config import FederatedConfig
from vega_lab.federated.partitioning import client_statistics, partition


@dataclass(frozen=True)
class ClientData:
    x: np.ndarray
    y: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


@dataclass(frozen=True)
class FederatedData:
    dataset: Dataset
    x_test: torch.Tensor
    y_test: torch.Tensor
    train_x: np.ndarray
    train_y: np.ndarray
    parts: list[np.ndarray]
    client_test_fraction: float
    seed: int
    adversary: Adversary | None = None  # malicious clients train on poisoned data

    @property
    def num_clients(self) -> int:
        return len(self.parts)

    def client(self, cid: int) -> ClientData:
        """Client ``cid``'s own arrays, with its local test split (stratified-free, seeded);
        a malicious client's training arrays as its attack poisoned them."""
        idx = self.parts[cid]
        x, y = self.train_x[idx], self.train_y[idx]
        if self.client_test_fraction <= 0:
            return ClientData(*self._poisoned(cid, x, y), x[:0], y[:0])
        perm = np.random.default_rng([self.seed, cid, 7]).permutation(len(idx))
        n_test = round(len(idx) * self.client_test_fraction)
        if len(idx) - n_test < 1 or n_test < 1:
            raise PartitionError(
                f"client {cid} holds {len(idx)} examples: too few for a local test split "
                f"of {self.client_test_fraction}",
                "lower client_test_fraction (0 disables it) or use fewer clients",
            )
        te, tr = perm[:n_test], perm[n_test:]
        return ClientData(*self._poisoned(cid, x[tr], y[tr]), x[te], y[te])

    def _poisoned(self, cid: int, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.adversary is None:
            return x, y
        ds = self.dataset
        return self.adversary.poison(cid, x, y, ds.n_classes, ds.image_shape)

    def statistics(self, cid: int) -> dict[str, object]:
        """Computed by the client on its own training labels: sizes and label histogram."""
        return client_statistics(self.client(cid).y, self.dataset.n_classes)


def build_data(config: FederatedConfig) -> FederatedData:
    ds = load_dataset(config.dataset)
    x_tr, y_tr, x_te, y_te = train_test_split(ds, config.test_fraction, config.seed)
    parts = partition(
        config.partition, y_tr, config.num_clients, seed=config.seed, **config.partition_options()
    )
    return FederatedData(
        ds,
        torch.from_numpy(x_te),
        torch.from_numpy(y_te),
        x_tr,
        y_tr,
        parts,
        config.client_test_fraction,
        config.seed,
        Adversary.from_config(config),
    )
