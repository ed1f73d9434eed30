"""The vectorized engine: every participant of a round trains in one batched computation.

Client data is padded into ``[N, max_n, ...]`` tensors once; each local step gathers one
mini-batch per client (``[C, B, ...]``) and computes all C gradients with ``vmap(loss)`` over
stacked flat parameters ``[C, n]`` and one backward pass. Clients with less data or less work
(stragglers) are masked, not looped over, so the Python cost per step is constant in C.
The batches, masks and corrections are those of `client.local_sgd`, hence the same result.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.func import vmap

from vega_lab.errors import FederatedError
from vega_lab.federated.client import PERSONAL_EPOCH_OFFSET
from vega_lab.federated.config import FederatedConfig
from vega_lab.federated.data import FederatedData
from vega_lab.federated.model import FlatModel
from vega_lab.federated.rounds import RoundJob, RoundOutput
from vega_lab.federated.schedule import epoch_orders, step_limit, steps_per_epoch
from vega_lab.federated.strategies import ClientUpdates, Strategy


def _pad(arrays: list[np.ndarray], width: int) -> torch.Tensor:
    first = arrays[0]
    out = np.zeros((len(arrays), width, *first.shape[1:]), dtype=first.dtype)
    for i, a in enumerate(arrays):
        out[i, : len(a)] = a
    return torch.from_numpy(out)


class VectorizedEngine:
    name = "vectorized"

    def __init__(
        self, config: FederatedConfig, data: FederatedData, model: FlatModel, strategy: Strategy
    ) -> None:
        if not getattr(model, "vectorizable", False):
            raise FederatedError(
                f"the vectorized engine needs a torch model, got {type(model).__name__}",
                "use engine='sequential' (or 'flower') for Keras and other frameworks",
            )
        self.config, self.model, self.strategy = config, model, strategy
        clients = [data.client(c) for c in range(data.num_clients)]
        self.sizes = torch.tensor([len(c.y) for c in clients])
        self.x = _pad([c.x for c in clients], int(self.sizes.max()))
        self.y = _pad([c.y for c in clients], int(self.sizes.max()))
        self.test_sizes = torch.tensor([len(c.y_test) for c in clients])
        width = max(1, int(self.test_sizes.max()))
        self.x_test = _pad([c.x_test for c in clients], width)
        self.y_test = _pad([c.y_test for c in clients], width)
        self._losses = vmap(model.loss)  # [C] losses; one backward gives every client's grad
        self._logits = vmap(model.logits)

    def _sgd(
        self,
        start: torch.Tensor,
        ids: torch.Tensor,
        work: torch.Tensor,
        rnd: int,
        correction,
        epoch_offset: int = 0,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        cfg = self.config
        sizes = self.sizes[ids]
        x, y = self.x[ids], self.y[ids]
        per_epoch = steps_per_epoch(sizes, cfg.batch_size)
        limit = step_limit(per_epoch * cfg.local_epochs, work.to(torch.float64))
        rows = torch.arange(len(ids))[:, None]
        params = start.clone()
        taken = torch.zeros(len(ids), dtype=torch.int64)
        loss_sum = torch.zeros(len(ids))
        for epoch in range(cfg.local_epochs):
            order = epoch_orders(sizes, ids, cfg.seed, rnd, epoch + epoch_offset)
            for s in range(int(per_epoch.max())):
                lo = s * cfg.batch_size
                cols = order[:, lo : lo + cfg.batch_size]
                pos = torch.arange(lo, lo + cols.shape[1])
                mask = (pos[None, :] < sizes[:, None]).to(params.dtype)
                grad, loss = self._loss_and_grad(params, x[rows, cols], y[rows, cols], mask)
                extra = correction(params)
                if extra is not None:
                    grad = grad + extra
                active = (mask.sum(1) > 0) & (taken < limit)
                params = params - cfg.lr * active[:, None].to(params.dtype) * grad
                taken += active
                loss_sum += active * loss
        return params, taken, loss_sum / taken.clamp(min=1)

    def _loss_and_grad(
        self, params: torch.Tensor, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Client losses are independent, so d(sum of losses)/d(params[c]) is client c's
        gradient: one ordinary backward pass (no torch.func.grad, whose first use imports
        torch._dynamo for seconds)."""
        leaf = params.detach().requires_grad_(True)
        with torch.enable_grad():
            losses = self._losses(leaf, x, y, mask)
            (grad,) = torch.autograd.grad(losses.sum(), leaf)
        return grad, losses.detach()

    def train_round(self, job: RoundJob) -> RoundOutput:
        ids = torch.as_tensor(job.clients, dtype=torch.int64)
        g, strategy = job.params, self.strategy
        states = job.client_states
        local, steps, train_loss = self._sgd(
            g.expand(len(ids), -1),
            ids,
            job.work,
            job.rnd,
            lambda p: strategy.correction(p, g, job.broadcast, states),
        )
        extras, new_states = strategy.client_finish(
            g, local, steps, self.config.lr, job.broadcast, states
        )
        evaluated = g.expand(len(ids), -1)
        if strategy.personal_lambda > 0:
            lam = strategy.personal_lambda
            personal, _, _ = self._sgd(
                states["personal"],
                ids,
                job.work,
                job.rnd,
                lambda p: lam * (p - g),
                PERSONAL_EPOCH_OFFSET,
            )
            new_states = {**new_states, "personal": personal}
            evaluated = personal
        metrics = self._metrics(ids, evaluated, train_loss)
        updates = ClientUpdates(local - g, self.sizes[ids].to(g.dtype), steps.to(g.dtype), extras)
        return RoundOutput(updates, new_states, metrics)

    @torch.no_grad()
    def _metrics(
        self, ids: torch.Tensor, params: torch.Tensor, train_loss: torch.Tensor
    ) -> list[dict[str, float]]:
        base = [
            {"client": float(c), "train_loss": float(tl), "num_examples": float(n)}
            for c, tl, n in zip(
                ids.tolist(), train_loss.tolist(), self.sizes[ids].tolist(), strict=True
            )
        ]
        if self.config.client_test_fraction <= 0:
            return base
        n_test = self.test_sizes[ids]
        logits = self._logits(params, self.x_test[ids])  # [C, T, classes]
        y = self.y_test[ids]
        mask = (torch.arange(y.shape[1])[None, :] < n_test[:, None]).to(logits.dtype)
        ce = torch.nn.functional.cross_entropy(logits.transpose(1, 2), y, reduction="none")
        denom = n_test.clamp(min=1).to(logits.dtype)
        loss = (ce * mask).sum(1) / denom
        acc = ((logits.argmax(2) == y).to(logits.dtype) * mask).sum(1) / denom
        for m, lo, ac, nt in zip(base, loss.tolist(), acc.tolist(), n_test.tolist(), strict=True):
            if nt > 0:
                m |= {"accuracy": ac, "loss": lo}
        return base
