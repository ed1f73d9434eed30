"""Run a whole SecAgg+ round in one process: `secure_sum` for a stack of updates, and
`SecureAggregator`, the object a round loop uses for a secure weighted mean.

Clients and server are separate objects that exchange only bytes, handed over by this driver,
which counts every byte each client sends and receives and times the clients' and the server's
work apart (in a deployment the clients compute in parallel, so the per-client time is what a
client waits, and the server time is what the round adds on the server).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
import torch

from vega_lab.errors import SecureAggregationError
from vega_lab.federated.secure.client import SecAggClient
from vega_lab.federated.secure.graph import default_shares, default_threshold
from vega_lab.federated.secure.prg import Drbg
from vega_lab.federated.secure.server import SecAggServer

T = TypeVar("T")


@dataclass
class SecAggReport:
    """What one secure round did. Client lists are row indices of the input updates."""

    total: np.ndarray  # float64 [P]: the sum of the survivors' updates
    survivors: list[int]
    dropped: list[int]  # dropped after sharing keys: their masks were removed, inputs absent
    rejected: dict[int, str]  # invalid update or malformed message: left out, with the reason
    num_shares: int
    threshold: int
    bits: int  # quantization bits per coordinate
    error_bound: float  # max rounding error per coordinate of `total`
    clipped: int  # coordinates clipped to [-clip, clip], over all survivors
    bytes_up: list[int] = field(default_factory=list)  # per client (every input row)
    bytes_down: list[int] = field(default_factory=list)
    client_s: float = 0.0  # all clients' compute, summed
    server_s: float = 0.0

    @property
    def bytes_per_client(self) -> float:
        """Mean bytes sent plus received by a client whose input is in the sum (a client that
        drops sends less: no masked vector)."""
        sent = [self.bytes_up[i] + self.bytes_down[i] for i in self.survivors]
        return float(np.mean(sent)) if sent else 0.0


def _rows(updates: np.ndarray | torch.Tensor | Sequence[np.ndarray]) -> list[np.ndarray]:
    if isinstance(updates, torch.Tensor):
        updates = updates.detach().cpu().numpy()
    if isinstance(updates, np.ndarray):
        if updates.ndim != 2:
            raise SecureAggregationError(
                f"updates must be [clients, params], got shape {list(updates.shape)}"
            )
        return list(updates)
    return [np.asarray(u) for u in updates]


def _dropped_rows(dropout: float | Sequence[int], n: int, seed: int | None) -> set[int]:
    if isinstance(dropout, int | float):
        if not 0.0 <= dropout < 1.0:
            raise SecureAggregationError(f"dropout must be in [0, 1), got {dropout}")
        return set(Drbg(seed, "dropout").permutation(n)[: round(dropout * n)].tolist())
    return set(int(i) for i in dropout)


def secure_sum(
    updates: np.ndarray | torch.Tensor | Sequence[np.ndarray],
    *,
    dropout: float | Sequence[int] = 0.0,
    late_dropout: float | Sequence[int] = 0.0,
    threshold: int | None = None,
    num_shares: int | None = None,
    clip: float = 1.0,
    size: int | None = None,
    seed: int | None = None,
) -> SecAggReport:
    """The sum of ``updates`` (``[C, P]``, or C vectors) through the SecAgg+ protocol.

    ``dropout`` clients (a fraction, or row indices) vanish after sharing their keys, before
    sending their masked input: the hard case, their pairwise masks must be reconstructed.
    ``late_dropout`` ones vanish after sending it, before unmasking. ``num_shares`` is the
    number of holders of each client's secrets (itself included; default: `default_shares`,
    the complete graph up to ~100 clients), ``threshold`` the shares needed to reconstruct
    (default: a strict majority of the holders). ``size`` is the model's length (default: the
    most common update length). ``seed`` makes the whole round reproducible; leave it None
    outside simulations.
    """
    rows = _rows(updates)
    n = len(rows)
    if n < 2:
        raise SecureAggregationError(
            f"secure aggregation needs at least 2 clients, got {n}",
            "with one client the sum is its update: aggregate in the clear or add clients",
        )
    size = size if size is not None else Counter(r.size for r in rows).most_common(1)[0][0]
    frac = dropout if isinstance(dropout, int | float) else len(dropout) / n
    m = num_shares if num_shares is not None else default_shares(n, max(frac, 0.3))
    m = min(m, n)
    t = threshold if threshold is not None else default_threshold(m)
    ids = list(range(1, n + 1))  # Shamir x coordinates: never 0
    up, down = [0] * n, [0] * n
    clock = {"client": 0.0, "server": 0.0}

    def timed(who: str, fn: Callable[..., T], *args: object) -> T:
        t0 = time.perf_counter()
        try:
            return fn(*args)
        finally:
            clock[who] += time.perf_counter() - t0

    server = timed(
        "server",
        lambda: SecAggServer(ids, size=size, num_shares=m, threshold=t, clip=clip, seed=seed),
    )
    clients = {i: timed("client", SecAggClient, i, seed) for i in ids}
    early = _dropped_rows(dropout, n, seed)
    late = _dropped_rows(late_dropout, n, None if seed is None else seed + 1) - early
    rejected: dict[int, str] = {}

    def exchange(requests: dict[int, bytes], step: str) -> dict[int, bytes]:
        replies = {}
        for cid, req in requests.items():
            down[cid - 1] += len(req)
            try:
                replies[cid] = timed("client", getattr(clients[cid], step), req)
            except SecureAggregationError as exc:
                rejected[cid - 1] = str(exc)
                continue
            up[cid - 1] += len(replies[cid])
        return replies

    setup = server.setup_message()
    books = timed("server", server.receive_keys, exchange(dict.fromkeys(ids, setup), "advertise"))
    forwards = timed("server", server.receive_shares, exchange(books, "share_keys"))
    for cid, fwd in forwards.items():
        if cid - 1 in early:
            continue
        down[cid - 1] += len(fwd)
        try:
            masked = timed("client", clients[cid].masked_input, fwd, rows[cid - 1])
        except SecureAggregationError as exc:  # refused before masking: recorded, left out
            rejected[cid - 1] = str(exc)
            continue
        up[cid - 1] += len(masked)
        timed("server", server.receive_masked, cid, masked)
    requests = timed("server", server.unmask_requests)
    reveals = exchange({c: r for c, r in requests.items() if c - 1 not in late}, "unmask")
    timed("server", server.receive_reveals, reveals)
    total = timed("server", server.decode)
    rejected |= {cid - 1: why for cid, why in server.rejected.items()}
    survivors = sorted(i - 1 for i in server.u3)
    return SecAggReport(
        total=total,
        survivors=survivors,
        dropped=sorted(i - 1 for i in server.u2 - server.u3 if i - 1 not in rejected),
        rejected=dict(sorted(rejected.items())),
        num_shares=server.num_shares,
        threshold=t,
        bits=server.quantizer.bits,
        error_bound=server.quantizer.error_bound(len(survivors)),
        clipped=sum(clients[i + 1].clipped for i in survivors),
        bytes_up=up,
        bytes_down=down,
        client_s=clock["client"],
        server_s=clock["server"],
    )


@dataclass(frozen=True)
class SecureAggregator:
    """Secure weighted means for a round loop: the server learns the weighted mean of the
    clients' updates and nothing about any single one.

    Each client sends ``[w_i * x_i, w_i * clip]`` with ``w_i = weight_i / max weight`` in
    (0, 1] (FedAvg's example counts, which clients report in the clear here), so the secure
    sum carries both the weighted numerator and the total weight of the clients that really
    took part; a client that drops is missing from both.
    """

    num_shares: int | None = None
    threshold: int | None = None
    clip: float = 1.0
    seed: int | None = None

    def sum(
        self,
        updates: np.ndarray | torch.Tensor | Sequence[np.ndarray],
        *,
        dropout: float | Sequence[int] = 0.0,
        late_dropout: float | Sequence[int] = 0.0,
        seed: int | None = None,
    ) -> SecAggReport:
        """`secure_sum` with this aggregator's settings (``seed`` overrides its own)."""
        return secure_sum(
            updates,
            dropout=dropout,
            late_dropout=late_dropout,
            threshold=self.threshold,
            num_shares=self.num_shares,
            clip=self.clip,
            seed=self.seed if seed is None else seed,
        )

    def mean(
        self,
        updates: torch.Tensor,
        weights: torch.Tensor,
        *,
        dropout: float | Sequence[int] = 0.0,
        seed: int | None = None,
    ) -> tuple[torch.Tensor, SecAggReport]:
        """(weighted mean ``[P]`` of the surviving rows of ``updates [C, P]``, report)."""
        w = weights.detach().double().cpu()
        if w.shape != (updates.shape[0],) or not torch.all(w > 0):
            raise SecureAggregationError(
                f"secure aggregation needs one positive weight per client, got {w.tolist()}"
            )
        w = (w / w.max()).numpy()
        x = updates.detach().double().cpu().numpy()
        rows = np.concatenate([x * w[:, None], self.clip * w[:, None]], axis=1)
        report = self.sum(rows, dropout=dropout, seed=seed)
        weight = report.total[-1] / self.clip
        if not weight > 0:
            raise SecureAggregationError(
                "no client's update survived secure aggregation", "rerun the round"
            )
        mean = torch.from_numpy(report.total[:-1] / weight).to(updates.dtype)
        return mean, report
