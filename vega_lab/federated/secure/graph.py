"""Who shares secrets with whom: SecAgg+'s sparse graph (Bell et al. 2020).

Original SecAgg has every client share with every other one: O(n^2) key agreements and masks.
SecAgg+ puts the n clients on a ring in a random order (a Harary graph with random labels) and
links each to the h nearest on either side, so each client's secrets have m = 2h + 1 holders
(itself included) and it computes 2h masks, not n - 1. With m >= n it is the complete graph,
i.e. original SecAgg. The order comes from the server's randomness, after the clients committed
to their keys.
"""

from __future__ import annotations

from collections.abc import Sequence

from vega_lab.errors import SecureAggregationError
from vega_lab.federated.secure.prg import Drbg


def neighbourhoods(ids: Sequence[int], num_shares: int, rng: Drbg) -> dict[int, tuple[int, ...]]:
    """``{client: sorted holder ids}``; every client holds its own share too."""
    n = len(ids)
    if num_shares >= n:
        everyone = tuple(sorted(ids))
        return {i: everyone for i in ids}
    if num_shares % 2 == 0:
        raise SecureAggregationError(
            f"num_shares must be odd in a sparse SecAgg+ graph (itself plus h on each side), "
            f"got {num_shares}",
            f"use {num_shares + 1}",
        )
    order = [ids[k] for k in rng.permutation(n)]
    h = num_shares // 2
    return {
        cid: tuple(sorted(order[(pos + off) % n] for off in range(-h, h + 1)))
        for pos, cid in enumerate(order)
    }


def default_shares(num_clients: int, dropout: float = 0.3, risk: float = 1e-3) -> int:
    """The smallest odd number of holders m (threshold m // 2 + 1) for which, when each client
    drops independently with probability ``dropout``, the chance that some client's secret
    has fewer than threshold surviving holders stays below ``risk``; n (complete graph) when no
    smaller m does. 100 clients at 30% dropout: the complete graph; 500: 123 holders."""
    from scipy.stats import binom  # slow to import: only when a default is needed

    n = num_clients
    if n < 3:
        return n
    keep = 1.0 - min(max(dropout, 0.0), 0.99)
    for m in range(3, n, 2):
        if n * binom.cdf(m // 2, m, keep) < risk:
            return m
    return n


def default_threshold(num_shares: int) -> int:
    """The smallest secure threshold: a strict majority of the holders."""
    return max(2, num_shares // 2 + 1)
