"""Split a labelled dataset across simulated clients: IID, Dirichlet label skew, k-label shards,
quantity skew (the settings of NIID-Bench, Li et al. 2022). Deterministic by seed.

Each partitioner returns one sorted index array per client; a partition that would leave a client
without data is refused rather than silently producing a client that cannot train.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from vega_lab.errors import PartitionError
from vega_lab.registry import lookup

Partition = list[np.ndarray]


def _check(num_clients: int, labels: np.ndarray) -> None:
    if num_clients < 1:
        raise PartitionError(f"num_clients must be >= 1, got {num_clients}")
    if len(labels) < num_clients:
        raise PartitionError(
            f"{len(labels)} examples cannot give each of {num_clients} clients at least one",
            "use fewer clients or a larger dataset",
        )


def _finish(parts: list[np.ndarray], name: str, hint: str) -> Partition:
    empty = [i for i, p in enumerate(parts) if len(p) == 0]
    if empty:
        raise PartitionError(
            f"the {name} partition leaves client(s) {empty[:10]} with no data", hint
        )
    return [np.sort(p.astype(np.int64)) for p in parts]


def iid(labels: np.ndarray, num_clients: int, *, seed: int) -> Partition:
    """Shuffle and deal out equal shares."""
    _check(num_clients, labels)
    perm = np.random.default_rng(seed).permutation(len(labels))
    return _finish(list(np.array_split(perm, num_clients)), "iid", "use fewer clients")


def dirichlet(labels: np.ndarray, num_clients: int, *, seed: int, alpha: float = 0.5) -> Partition:
    """Label skew: each class is split across clients in Dir(alpha) proportions (small alpha,
    few classes per client). Re-draws (up to 100 times) until every client holds data."""
    _check(num_clients, labels)
    if not alpha > 0:
        raise PartitionError(f"alpha must be > 0, got {alpha}", "typical values: 0.1 to 10")
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    for _ in range(100):
        parts: list[list[np.ndarray]] = [[] for _ in range(num_clients)]
        for c in classes:
            idx = rng.permutation(np.flatnonzero(labels == c))
            props = rng.dirichlet(np.full(num_clients, alpha))
            cuts = (np.cumsum(props)[:-1] * len(idx)).astype(int)
            for k, chunk in enumerate(np.split(idx, cuts)):
                parts[k].append(chunk)
        merged = [np.concatenate(p) for p in parts]
        if min(len(p) for p in merged) > 0:
            return _finish(merged, "dirichlet", "")
    return _finish(merged, "dirichlet", "raise alpha or use fewer clients")


def shards(
    labels: np.ndarray, num_clients: int, *, seed: int, labels_per_client: int = 2
) -> Partition:
    """Pathological non-IID (McMahan et al. 2017): sort by label, cut into
    ``num_clients * labels_per_client`` shards, deal each client ``labels_per_client`` shards.
    With one label per client and as many clients as classes, each client sees exactly one class."""
    _check(num_clients, labels)
    if labels_per_client < 1:
        raise PartitionError(f"labels_per_client must be >= 1, got {labels_per_client}")
    rng = np.random.default_rng(seed)
    n_shards = num_clients * labels_per_client
    if n_shards > len(labels):
        raise PartitionError(
            f"{n_shards} shards need at least {n_shards} examples, have {len(labels)}",
            "lower labels_per_client or the number of clients",
        )
    order = np.lexsort((rng.random(len(labels)), labels))  # by label, shuffled within a label
    pieces = np.array_split(order, n_shards)
    deal = rng.permutation(n_shards).reshape(num_clients, labels_per_client)
    return _finish([np.concatenate([pieces[s] for s in row]) for row in deal], "shards", "")


def quantity_skew(
    labels: np.ndarray, num_clients: int, *, seed: int, alpha: float = 0.5
) -> Partition:
    """Sizes skewed by Dir(alpha), labels IID within a client; every client gets at least one."""
    _check(num_clients, labels)
    if not alpha > 0:
        raise PartitionError(f"alpha must be > 0, got {alpha}", "typical values: 0.1 to 10")
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(labels))
    spare = len(labels) - num_clients
    sizes = 1 + np.floor(rng.dirichlet(np.full(num_clients, alpha)) * spare).astype(int)
    sizes[np.argmax(sizes)] += len(labels) - sizes.sum()
    return _finish(list(np.split(perm, np.cumsum(sizes)[:-1])), "quantity_skew", "")


PARTITIONERS: dict[str, Callable[..., Partition]] = {
    "iid": iid,
    "dirichlet": dirichlet,
    "shards": shards,
    "quantity_skew": quantity_skew,
}


def partition(
    name: str, labels: np.ndarray, num_clients: int, *, seed: int, **options: float
) -> Partition:
    """Partition by registry name; options are the partitioner's keyword arguments."""
    partitioner = lookup(PARTITIONERS, name, "partition")
    return partitioner(np.asarray(labels), num_clients, seed=seed, **options)


def client_statistics(labels: np.ndarray, n_classes: int) -> dict[str, object]:
    """What a client reports about its data: its size and label histogram, never the examples."""
    hist = np.bincount(np.asarray(labels, dtype=np.int64), minlength=n_classes)
    return {"num_examples": len(labels), "label_histogram": hist.tolist()}
