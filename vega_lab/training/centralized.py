"""Centralized supervised training: the baseline every federated or private run compares to."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from vega_lab.errors import VegaError


@dataclass(frozen=True)
class EpochMetrics:
    epoch: int
    train_loss: float
    train_accuracy: float
    test_loss: float
    test_accuracy: float

    def as_dict(self) -> dict[str, float]:
        d = asdict(self)
        d.pop("epoch")
        return d


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    model.eval()
    logits = model(x)
    loss = nn.functional.cross_entropy(logits, y).item()
    acc = (logits.argmax(1) == y).float().mean().item()
    return loss, acc


def train_classifier(
    model: nn.Module,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    *,
    lr: float,
    epochs: int,
    batch_size: int,
    seed: int,
    momentum: float = 0.0,
    threads: int = 1,
    on_epoch: Callable[[EpochMetrics], None] | None = None,
    progress: bool = True,
) -> list[EpochMetrics]:
    """SGD with cross-entropy; deterministic for a seed (shuffling and, with ``threads=1``,
    the arithmetic), so a sweep on any executor records the same numbers."""
    if lr <= 0:
        raise VegaError(f"lr must be positive, got {lr}")
    if epochs < 1 or batch_size < 1:
        raise VegaError(f"epochs and batch_size must be >= 1, got {epochs} and {batch_size}")
    if len(x_train) != len(y_train) or len(x_test) != len(y_test):
        raise VegaError("features and labels differ in length")
    torch.set_num_threads(threads)
    gen = torch.Generator().manual_seed(seed)
    xt, yt = torch.from_numpy(x_train), torch.from_numpy(y_train)
    xv, yv = torch.from_numpy(x_test), torch.from_numpy(y_test)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    history: list[EpochMetrics] = []
    epochs_iter = range(1, epochs + 1)
    if progress:
        from tqdm.auto import tqdm

        epochs_iter = tqdm(epochs_iter, desc="epochs", unit="epoch")
    for epoch in epochs_iter:
        model.train()
        order = torch.randperm(len(xt), generator=gen)
        total, correct, seen = 0.0, 0, 0
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            logits = model(xt[idx])
            loss = nn.functional.cross_entropy(logits, yt[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
            correct += (logits.argmax(1) == yt[idx]).sum().item()
            seen += len(idx)
        if not np.isfinite(total):
            raise VegaError(
                f"training diverged at epoch {epoch} (loss is not finite)",
                "lower the learning rate",
            )
        test_loss, test_acc = evaluate(model, xv, yv)
        m = EpochMetrics(epoch, total / seen, correct / seen, test_loss, test_acc)
        history.append(m)
        if on_epoch:
            on_epoch(m)
    return history
