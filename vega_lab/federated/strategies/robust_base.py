"""What the Byzantine-robust aggregators share: the number of Byzantine clients f they tolerate,
the refusal when a round is too small for their guarantee, and FedAvg's server step on the
robust pseudo-gradient.

Robust rules give every client one vote (``weighted = False``): example counts are the client's
own claim, and a Byzantine client would claim a huge one. Each rule computes its pseudo-gradient
and each client's coefficient in it together (`select`), so the audit log records exactly what
was aggregated (Krum's chosen client, the share of coordinates a client kept in the median).
"""

from __future__ import annotations

import math
from abc import abstractmethod

import torch

from vega_lab.errors import FederatedError
from vega_lab.federated.strategies.base import ClientUpdates
from vega_lab.federated.strategies.fedavg import FedAvg


def count_option(value: float | None, what: str) -> int | None:
    """A client count given as a (possibly float) option: a non-negative integer or None."""
    if value is None:
        return None
    if value < 0 or value != math.floor(value):
        raise FederatedError(f"{what} must be a non-negative integer, got {value}")
    return int(value)


def require_finite(updates: ClientUpdates, rule: str) -> None:
    """NaN/Inf rows would silently poison sorting and distances: refuse them here (the round
    loop rejects such clients, and records it, before any strategy sees them)."""
    bad = ~torch.isfinite(updates.deltas).all(1)
    if bad.any():
        rows = bad.nonzero().flatten().tolist()
        raise FederatedError(
            f"{rule}: client rows {rows} hold NaN or Inf",
            "drop those clients first (simulate() rejects them and records it in the audit log)",
        )


def coordinate_median(x: torch.Tensor) -> torch.Tensor:
    """The median along dim 0, the mean of the two middle values when the count is even (torch's
    ``median`` returns the lower one, which biases an even-sized median). Selection over the
    transposed copy, not a sort: 2-5x faster at 100 clients x 100k parameters."""
    t = x.T.contiguous()
    lower = t.median(dim=1).values
    if x.shape[0] % 2:
        return lower
    upper = -(-t).median(dim=1).values
    return (lower + upper) / 2


def squared_distances(x: torch.Tensor) -> torch.Tensor:
    """Pairwise squared Euclidean distances ``[C, C]`` in float64 (the Gram form loses digits
    in float32 when updates are close)."""
    d = x.double()
    sq = (d * d).sum(1)
    return (sq[:, None] + sq[None, :] - 2 * d @ d.T).clamp(min=0)


class RobustAggregator(FedAvg):
    """Base of the robust rules: options ``f`` (Byzantine clients tolerated) or
    ``byzantine_fraction`` (f as a share of each round's clients, rounded down)."""

    weighted = False

    def __init__(
        self,
        f: float | None = None,
        byzantine_fraction: float | None = None,
        server_lr: float = 1.0,
    ) -> None:
        super().__init__(server_lr=server_lr)
        if f is not None and byzantine_fraction is not None:
            raise FederatedError(
                f"{self.name}: give f or byzantine_fraction, not both",
                "f counts Byzantine clients; byzantine_fraction is their share of a round",
            )
        if byzantine_fraction is not None and not 0 <= byzantine_fraction < 1:
            raise FederatedError(
                f"{self.name}: byzantine_fraction must be in [0, 1), got {byzantine_fraction}"
            )
        self.f = count_option(f, f"{self.name}: f")
        self.byzantine_fraction = byzantine_fraction

    def byzantine(self, n: int) -> int:
        """f for a round of ``n`` clients."""
        if self.byzantine_fraction is not None:
            return math.floor(self.byzantine_fraction * n)
        return self.f or 0

    def tolerates(self, n: int, f: int) -> bool:
        """Whether the rule's guarantee holds for n clients of which f are Byzantine."""
        return n >= 1

    #: The guarantee in words, for the refusal message.
    requirement = "n >= 1"

    def check(self, n: int) -> int:
        """f for this round, or a `FederatedError` when the guarantee is void."""
        f = self.byzantine(n)
        if not self.tolerates(n, f):
            raise FederatedError(
                f"{self.name} cannot tolerate f={f} Byzantine clients among n={n}: "
                f"its guarantee needs {self.requirement}",
                "lower f (or byzantine_fraction), sample more clients per round, or choose "
                "another aggregator (median needs only n > 2f)",
            )
        return f

    def min_clients(self) -> int:
        n = 1
        while not self.tolerates(n, self.byzantine(n)):
            n += 1
            if n > 1_000_000:
                raise FederatedError(f"{self.name}: no client count satisfies its guarantee")
        return n

    @abstractmethod
    def select(self, deltas: torch.Tensor, f: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(pseudo-gradient ``[n]``, each client's coefficient in it ``[C]``)."""

    def _select(self, updates: ClientUpdates) -> tuple[torch.Tensor, torch.Tensor]:
        # the round loop asks for contributions (audit) and the average of the same updates:
        # select once (a memo of the last call, not state: the result depends on the input only)
        key = (id(updates), updates.deltas._version)
        memo = getattr(self, "_memo", None)
        if memo is not None and memo[0] is updates and memo[1] == key:
            return memo[2]
        require_finite(updates, self.name)
        f = self.check(updates.deltas.shape[0])
        result = self.select(updates.deltas, f)
        self._memo = (updates, key, result)
        return result

    def average(self, updates: ClientUpdates) -> torch.Tensor:
        return self._select(updates)[0]

    def contributions(self, updates: ClientUpdates) -> torch.Tensor:
        return self._select(updates)[1]
