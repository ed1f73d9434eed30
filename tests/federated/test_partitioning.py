"""Conformance suite for every partitioner, plus each one's defining property."""

from __future__ import annotations

import numpy as np
import pytest

from vega_lab.errors import PartitionError, UnknownNameError
from vega_lab.federated.partitioning import PARTITIONERS, client_statistics, partition

LABELS = np.repeat(np.arange(10), 50)  # 500 examples, 10 balanced classes
OPTIONS = {
    "iid": {},
    "dirichlet": {"alpha": 0.5},
    "shards": {"labels_per_client": 2},
    "quantity_skew": {"alpha": 0.5},
}


@pytest.mark.parametrize("name", sorted(PARTITIONERS))
def test_partition_is_a_deterministic_disjoint_cover_without_empty_clients(name: str) -> None:
    parts = partition(name, LABELS, 10, seed=3, **OPTIONS[name])
    again = partition(name, LABELS, 10, seed=3, **OPTIONS[name])
    other = partition(name, LABELS, 10, seed=4, **OPTIONS[name])
    assert len(parts) == 10 and all(len(p) > 0 for p in parts)
    joined = np.concatenate(parts)
    assert np.array_equal(np.sort(joined), np.arange(len(LABELS)))  # every example exactly once
    assert all(np.array_equal(a, b) for a, b in zip(parts, again, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(parts, other, strict=True))


@pytest.mark.parametrize("name", sorted(PARTITIONERS))
def test_partition_refuses_more_clients_than_examples(name: str) -> None:
    with pytest.raises(PartitionError, match="client"):
        partition(name, LABELS[:5], 6, seed=0, **OPTIONS[name])


def test_iid_gives_equal_sizes_and_mixed_labels() -> None:
    parts = partition("iid", LABELS, 10, seed=0)
    assert {len(p) for p in parts} == {50}
    assert all(len(np.unique(LABELS[p])) >= 7 for p in parts)


def test_shards_with_one_label_per_client_give_each_client_one_class() -> None:
    parts = partition("shards", LABELS, 10, seed=0, labels_per_client=1)
    assert sorted(int(np.unique(LABELS[p])[0]) for p in parts) == list(range(10))
    assert all(len(np.unique(LABELS[p])) == 1 for p in parts)


def test_shards_with_two_labels_per_client_give_at_most_two_classes() -> None:
    parts = partition("shards", LABELS, 10, seed=1, labels_per_client=2)
    assert all(len(np.unique(LABELS[p])) <= 2 for p in parts)


def _label_entropy(parts: list[np.ndarray]) -> float:
    ent = []
    for p in parts:
        h = np.bincount(LABELS[p], minlength=10) / len(p)
        ent.append(-(h[h > 0] * np.log(h[h > 0])).sum())
    return float(np.mean(ent))


def test_smaller_dirichlet_alpha_means_more_label_skew() -> None:
    skewed = partition("dirichlet", LABELS, 10, seed=0, alpha=0.05)
    mild = partition("dirichlet", LABELS, 10, seed=0, alpha=100.0)
    assert _label_entropy(skewed) < 1.0 < _label_entropy(mild)


def test_quantity_skew_varies_sizes_but_not_label_mix() -> None:
    parts = partition("quantity_skew", LABELS, 10, seed=0, alpha=0.3)
    sizes = [len(p) for p in parts]
    assert max(sizes) > 4 * min(sizes)
    big = max(parts, key=len)
    assert len(np.unique(LABELS[big])) == 10


@pytest.mark.parametrize("name", ["dirichlet", "quantity_skew"])
@pytest.mark.parametrize("alpha", [0.0, -1.0])
def test_non_positive_alpha_is_refused(name: str, alpha: float) -> None:
    with pytest.raises(PartitionError, match="alpha must be > 0"):
        partition(name, LABELS, 10, seed=0, alpha=alpha)


def test_unknown_partition_lists_the_valid_ones() -> None:
    with pytest.raises(UnknownNameError, match="dirichlet, iid, quantity_skew, shards"):
        partition("label_noise", LABELS, 10, seed=0)


def test_client_statistics_report_sizes_and_histograms_not_data() -> None:
    stats = client_statistics(np.array([0, 0, 2]), 4)
    assert stats == {"num_examples": 3, "label_histogram": [2, 0, 1, 0]}
