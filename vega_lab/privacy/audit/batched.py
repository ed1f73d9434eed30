"""Many small models trained together: one batched computation over M model copies.

Auditing needs thousands of training runs (audit trials) and membership inference needs dozens
of shadow models. Each is a small ReLU MLP, so instead of a Python loop over runs we keep the
copies' parameters as one ``[M, P]`` tensor and run every step for all copies at once with
batched matrix products (the same idea as ``torch.func.vmap`` over model copies, written out
for an MLP so the per-example gradient norms come for free):

- per-example gradients are never materialized: for a linear layer the per-example gradient is
  the outer product of the backpropagated error and the layer input, so its squared norm is
  ``|dz|^2 (|a|^2 + 1)`` (Li et al. 2021's "ghost norm"), and the clipped *sum* is one batched
  product of the clip-scaled errors with the inputs;
- DP-SGD is the textbook mechanism Opacus implements: Poisson sampling at rate q, per-example
  clipping to C, Gaussian noise N(0, (sigma C)^2) on the sum, division by the expected batch;
- gradient canaries (white-box auditing) are Dirac gradients of norm C added to the clipped sum
  of the copies that include them, in the steps that sample them; the update along each watched
  coordinate is recorded so the auditor sees what a white-box adversary sees.

Every random draw comes from one seeded generator per chunk of copies, so a run is reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from vega_lab.errors import AuditError, ShapeMismatchError
from vega_lab.privacy.validation import (
    check_max_grad_norm,
    check_noise_multiplier,
    check_sample_rate,
)


@dataclass(frozen=True)
class MLPShape:
    """Layer sizes ``(in, hidden..., out)`` of a ReLU MLP stored as one flat vector per copy."""

    sizes: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.sizes) < 2 or any(int(s) <= 0 for s in self.sizes):
            raise AuditError(f"MLP sizes must be >= 2 positive ints, got {self.sizes!r}")

    @property
    def n_params(self) -> int:
        return sum(o * i + o for i, o in zip(self.sizes[:-1], self.sizes[1:], strict=True))

    def layers(self, theta: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Views ``(W [M, out, in], b [M, out])`` into flat parameters ``[M, P]``."""
        out, at = [], 0
        m = theta.shape[0]
        for i, o in zip(self.sizes[:-1], self.sizes[1:], strict=True):
            w = theta[:, at : at + o * i].view(m, o, i)
            at += o * i
            out.append((w, theta[:, at : at + o]))
            at += o
        return out

    def weight_index(self, layer: int, out_unit: int, in_unit: int) -> int:
        """Flat index of ``W_layer[out_unit, in_unit]`` (e.g. to place a Dirac canary)."""
        at = 0
        for k, (i, o) in enumerate(zip(self.sizes[:-1], self.sizes[1:], strict=True)):
            if k == layer:
                return at + out_unit * i + in_unit
            at += o * i + o
        raise AuditError(f"layer {layer} does not exist in an MLP of sizes {self.sizes}")


def init_params(shape: MLPShape, copies: int, *, seed: int, same_init: bool = True) -> torch.Tensor:
    """PyTorch's default Linear initialization, for all copies (one draw shared, or one each)."""
    gen = torch.Generator().manual_seed(seed)
    n = 1 if same_init else copies
    theta = torch.empty(n, shape.n_params)
    for w, b in shape.layers(theta):
        bound = 1.0 / math.sqrt(w.shape[2])
        w.uniform_(-bound, bound, generator=gen)
        b.uniform_(-bound, bound, generator=gen)
    return theta.expand(copies, -1).clone() if same_init else theta


def forward(
    shape: MLPShape, theta: torch.Tensor, x: torch.Tensor
) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
    """Logits ``[M, B, out]`` for inputs ``[M, B, in]`` (or ``[B, in]`` shared by all copies),
    with each layer's input and pre-activation kept for the backward pass."""
    m = theta.shape[0]
    a = x
    if a.shape[-1] != shape.sizes[0] or (a.dim() == 3 and a.shape[0] != m):
        raise ShapeMismatchError(
            f"inputs of shape {tuple(x.shape)} do not fit {m} copies of a {shape.sizes} MLP",
            f"pass [copies, batch, {shape.sizes[0]}] or [batch, {shape.sizes[0]}]",
        )
    inputs, pre = [], []
    layers = shape.layers(theta)
    for k, (w, b) in enumerate(layers):
        inputs.append(a)
        if a.dim() == 2:  # inputs shared by all copies: one large matrix product
            z = torch.einsum("bi,moi->mbo", a, w) + b.unsqueeze(1)
        else:
            z = torch.baddbmm(b.unsqueeze(1), a, w.transpose(1, 2))
        pre.append(z)
        a = torch.relu(z) if k < len(layers) - 1 else z
    return a, inputs, pre


def per_example_losses(shape: MLPShape, theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor):
    """Cross-entropy of every example under every copy: ``[M, B]``."""
    logits, _, _ = forward(shape, theta, x)
    yy = y if y.dim() == 2 else y.unsqueeze(0).expand(theta.shape[0], -1)
    return torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), yy.reshape(-1), reduction="none"
    ).view(yy.shape)


def clipped_gradient_sum(
    shape: MLPShape,
    theta: torch.Tensor,
    x: torch.Tensor,
    y: torch.Tensor,
    weight: torch.Tensor,
    max_grad_norm: float | None,
) -> torch.Tensor:
    """Sum over the batch of ``weight *`` (clipped) per-example gradients: ``[M, P]``.

    Manual backprop through the MLP (softmax cross-entropy, ReLU); per-example norms come from
    the ghost-norm identity, so memory is O(M B width), not O(M B P)."""
    logits, inputs, pre = forward(shape, theta, x)
    # softmax by hand: torch's CPU kernel is slow for a last dimension of ~10 classes
    dz = (logits - logits.amax(-1, keepdim=True)).exp_()
    dz /= dz.sum(-1, keepdim=True)
    dz.scatter_add_(2, y.unsqueeze(2), torch.full_like(y, -1, dtype=dz.dtype).unsqueeze(2))
    layers = shape.layers(theta)
    errors = [dz]
    for k in range(len(layers) - 1, 0, -1):
        dz = torch.bmm(dz, layers[k][0]) * (pre[k - 1] > 0)
        errors.append(dz)
    errors.reverse()
    scale = weight
    if max_grad_norm is not None:
        sq = sum(
            (e * e).sum(2) * ((a * a).sum(-1) + 1.0) for e, a in zip(errors, inputs, strict=True)
        )
        scale = weight * torch.clamp(max_grad_norm / (sq.sqrt() + 1e-6), max=1.0)
    grads = []
    for e, a in zip(errors, inputs, strict=True):
        es = e * scale.unsqueeze(2)
        if a.dim() == 2:
            grads.append(torch.einsum("mbo,bi->moi", es, a).flatten(1))
        else:
            grads.append(torch.bmm(es.transpose(1, 2), a).flatten(1))
        grads.append(es.sum(1))
    return torch.cat(grads, dim=1)


@dataclass(frozen=True)
class DPSGD:
    """The DP-SGD mechanism being trained (and audited).

    ``noise_scale`` exists to plant a bug for the audit to catch: the run claims
    ``noise_multiplier`` while actually adding ``noise_scale`` times that noise."""

    noise_multiplier: float
    max_grad_norm: float
    noise_scale: float = 1.0

    def __post_init__(self) -> None:
        check_noise_multiplier(self.noise_multiplier)
        check_max_grad_norm(self.max_grad_norm)


@dataclass(frozen=True)
class GradientCanaries:
    """Dirac gradient canaries: canary k adds +C (the clipping norm) to flat coordinate
    ``coords[k]`` in the copies where ``included[m, k]`` and the step's Poisson draw pick it."""

    coords: torch.Tensor  # [K] long
    included: torch.Tensor  # [M, K] bool


@dataclass(frozen=True)
class BatchedRun:
    theta: torch.Tensor  # [M, P] final parameters
    observations: torch.Tensor | None  # [steps, M, K] white-box view of the canary coordinates


class PoissonSampler:
    """One Poisson-sampled batch per copy (each member in with probability q), in O(M B).

    Picking each of a copy's members independently with probability q is the same as walking
    its member list with geometric gaps, so only about B random numbers per copy are needed
    instead of n (the naive way draws a uniform per example and sorts)."""

    def __init__(self, members: torch.Tensor, sample_rate: float) -> None:
        self.q = sample_rate
        self.n = members.sum(1)
        length = max(int(self.n.max()), 1)
        # each row: that copy's member indices first (stable, so in index order)
        self.own = torch.argsort((~members).to(torch.int8), dim=1, stable=True)[:, :length]
        mean = sample_rate * length
        self.k = math.ceil(mean + 6 * math.sqrt(mean * (1 - sample_rate)) + 8)

    def __call__(self, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Indices ``[M, Bmax]`` into the data and their validity mask."""
        m = self.own.shape[0]
        pos = torch.empty(m, self.k).geometric_(self.q, generator=gen).cumsum_(1)
        while bool((pos[:, -1] <= self.n).any()):  # rare: the walk has not passed n yet
            more = torch.empty(m, self.k).geometric_(self.q, generator=gen).cumsum_(1)
            pos = torch.cat([pos, more + pos[:, -1:]], 1)
        pos = pos.long() - 1
        valid = pos < self.n.unsqueeze(1)  # a prefix of each row
        bmax = max(int(valid.sum(1).max()), 1)
        pos, valid = pos[:, :bmax], valid[:, :bmax]
        return self.own.gather(1, pos.clamp_(max=self.own.shape[1] - 1)), valid


def train_copies(
    x: torch.Tensor,
    y: torch.Tensor,
    members: torch.Tensor,
    *,
    shape: MLPShape,
    steps: int,
    lr: float,
    sample_rate: float,
    dp: DPSGD | None = None,
    theta0: torch.Tensor | None = None,
    canaries: GradientCanaries | None = None,
    seed: int = 0,
    chunk: int = 1024,
    progress: Callable[[int, int], None] | None = None,
) -> BatchedRun:
    """Train ``M = len(members)`` copies; copy m trains on the examples ``members[m]`` marks.

    Each step draws a Poisson batch (rate ``sample_rate``) per copy and takes an SGD step on the
    sum of (clipped, noised, if ``dp``) per-example gradients divided by the expected batch
    size. Copies are processed in chunks of ``chunk`` to bound memory; ``progress(done, M)``
    is called after each chunk."""
    check_sample_rate(sample_rate)
    if x.dim() != 2 or y.dim() != 1 or len(x) != len(y) or x.shape[1] != shape.sizes[0]:
        raise ShapeMismatchError(
            f"x {tuple(x.shape)} / y {tuple(y.shape)} do not fit a {shape.sizes} MLP",
            "x must be [n, features] and y [n] class indices",
        )
    if members.dim() != 2 or members.shape[1] != len(x):
        raise ShapeMismatchError(f"members must be [copies, {len(x)}], got {tuple(members.shape)}")
    m_total = members.shape[0]
    theta_all = init_params(shape, m_total, seed=seed) if theta0 is None else theta0.clone()
    observations = [] if canaries is not None else None
    x = x.float()
    for start in range(0, m_total, chunk):
        sl = slice(start, min(start + chunk, m_total))
        gen = torch.Generator().manual_seed(seed * 1_000_003 + start)
        obs = _train_chunk(
            x, y, members[sl], theta_all[sl], shape=shape, steps=steps, lr=lr,
            sample_rate=sample_rate, dp=dp, gen=gen,
            canaries=None if canaries is None
            else GradientCanaries(canaries.coords, canaries.included[sl]),
        )  # fmt: skip
        if observations is not None:
            observations.append(obs)
        if progress is not None:
            progress(sl.stop, m_total)
    return BatchedRun(
        theta=theta_all,
        observations=None if observations is None else torch.cat(observations, dim=1),
    )


def _train_chunk(
    x: torch.Tensor,
    y: torch.Tensor,
    members: torch.Tensor,
    theta: torch.Tensor,
    *,
    shape: MLPShape,
    steps: int,
    lr: float,
    sample_rate: float,
    dp: DPSGD | None,
    gen: torch.Generator,
    canaries: GradientCanaries | None,
) -> torch.Tensor | None:
    """SGD steps in place on ``theta`` for one chunk of copies; returns canary observations."""
    n_members = members.sum(1).clamp(min=1).float()
    expected = (n_members * sample_rate).unsqueeze(1)  # Opacus divides by q * n
    obs = []
    # Dense when most examples are in most batches: every copy sees the shared inputs with a
    # 0/1 weight (large matrix products, no gather); sparse (gathered batches) otherwise.
    dense = sample_rate * float(members.float().mean()) > 0.3
    sampler = None if dense else PoissonSampler(members, sample_rate)
    for _ in range(steps):
        if dense:
            valid = members
            if sample_rate < 1.0:
                valid = members & (torch.rand(members.shape, generator=gen) < sample_rate)
            xb, yb = x, y.unsqueeze(0).expand(members.shape[0], -1)
        else:
            idx, valid = sampler(gen)
            xb = x.index_select(0, idx.flatten()).view(*idx.shape, -1)
            yb = y.index_select(0, idx.flatten()).view(idx.shape)
        clip = dp.max_grad_norm if dp is not None else None
        g = clipped_gradient_sum(shape, theta, xb, yb, valid.float(), clip)
        if canaries is not None:
            hit = canaries.included
            if sample_rate < 1.0:
                hit = hit & (torch.rand(hit.shape, generator=gen) < sample_rate)
            value = hit.float() * (dp.max_grad_norm if dp is not None else 1.0)
            g.index_add_(1, canaries.coords, value)
        if dp is not None:
            std = dp.noise_multiplier * dp.max_grad_norm * dp.noise_scale
            g.add_(torch.randn(g.shape, generator=gen), alpha=std)
        before = theta[:, canaries.coords].clone() if canaries is not None else None
        theta.sub_(g.mul_(lr / expected))
        if canaries is not None:
            c = dp.max_grad_norm if dp is not None else 1.0
            # What the white-box adversary sees: the update along each canary coordinate, in
            # units of the canary's own contribution (1.0 when the canary was sampled).
            obs.append((before - theta[:, canaries.coords]) * expected / (lr * c))
    return torch.stack(obs) if obs else None


def dead_coordinates(shape: MLPShape, x: torch.Tensor, limit: int | None = None) -> list[int]:
    """First-layer weights fed by input features that are zero in every example: their
    gradient is exactly zero for all real data, so a Dirac canary there is seen without
    interference (the auditor's ideal coordinate in Nasr et al. 2023)."""
    zero = (x.abs().sum(0) == 0).nonzero().flatten().tolist()
    coords = [shape.weight_index(0, o, i) for i in zero for o in range(shape.sizes[1])]
    return coords[:limit] if limit is not None else coords


def member_masks(
    copies: int, n: int, *, fraction: float = 0.5, seed: int = 0, fixed: Sequence[int] = ()
) -> torch.Tensor:
    """Random membership ``[copies, n]`` (each example in each copy with prob ``fraction``);
    the examples listed in ``fixed`` are members of every copy."""
    gen = torch.Generator().manual_seed(seed)
    mask = torch.rand(copies, n, generator=gen) < fraction
    if fixed:
        mask[:, list(fixed)] = True
    return mask
