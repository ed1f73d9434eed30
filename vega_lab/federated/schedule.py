"""Who trains, on which examples, in what order: every random choice of a round as a pure
function of (seed, round, client id), so the sequential, vectorized and Flower engines see the
same batches and the same participants whichever clients happen to share a step."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

_MASK31 = 0x7FFFFFFF


def _mix(x: torch.Tensor) -> torch.Tensor:
    """A 31-bit integer hash (xorshift-multiply); products stay below 2**62, so no overflow."""
    x = ((x ^ (x >> 15)) * 0x2C1B3C6D) & _MASK31
    x = ((x ^ (x >> 12)) * 0x297A2D39) & _MASK31
    return (x ^ (x >> 15)) & _MASK31


def epoch_orders(
    sizes: torch.Tensor, client_ids: torch.Tensor, seed: int, rnd: int, epoch: int
) -> torch.Tensor:
    """``[C, max(sizes)]`` example orders, one shuffle per client; padding sorts last."""
    width = int(sizes.max())
    pos = torch.arange(width, dtype=torch.int64)
    salt = _mix(torch.tensor((seed * 1_000_003 + rnd * 10_007 + epoch) & _MASK31))
    key = _mix(_mix(client_ids.to(torch.int64)[:, None] ^ salt) ^ _mix(pos[None, :] + salt))
    key = torch.where(pos[None, :] < sizes[:, None], key, torch.full_like(key, _MASK31 + 1))
    return torch.argsort(key, dim=1, stable=True)


def steps_per_epoch(sizes: torch.Tensor, batch_size: int) -> torch.Tensor:
    return (sizes + batch_size - 1) // batch_size


@dataclass(frozen=True)
class RoundPlan:
    sampled: np.ndarray  # client ids asked to train
    participants: np.ndarray  # ids that report back (sampled minus dropouts and dropped stragglers)
    work: np.ndarray  # per participant: share of its local steps it completes (1.0 = all)
    dropped: np.ndarray  # sampled ids that did not report


def plan_round(
    *,
    num_clients: int,
    fraction: float,
    dropout: float,
    stragglers: float,
    straggler_policy: str,
    seed: int,
    rnd: int,
) -> RoundPlan:
    """Sample ``ceil(fraction * N)`` clients, then drop some (failures) and slow some
    (stragglers: dropped, or with ``partial`` a random share of their local steps)."""
    rng = np.random.default_rng([seed, rnd, 11])
    m = max(1, int(np.ceil(fraction * num_clients)))
    sampled = np.sort(rng.choice(num_clients, size=m, replace=False))
    fails = rng.random(m) < dropout
    slow = (rng.random(m) < stragglers) & ~fails
    partial = rng.random(m)
    work = np.ones(m)
    if straggler_policy == "partial":
        work = np.where(slow, partial, 1.0)
        keep = ~fails
    else:
        keep = ~fails & ~slow
    return RoundPlan(sampled, sampled[keep], work[keep], sampled[~keep])


def step_limit(full_steps: torch.Tensor, work: torch.Tensor) -> torch.Tensor:
    """Local steps a client completes given its share of the work (at least one)."""
    partial = torch.clamp(torch.floor(work * full_steps), min=1).to(full_steps.dtype)
    return torch.where(work >= 1.0, full_steps, torch.minimum(partial, full_steps))
