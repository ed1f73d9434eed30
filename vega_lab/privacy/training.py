"""DP-SGD on Opacus, and the same training without DP as its baseline.

One entry point, `train_private(config)`: it splits a shipped dataset (stratified, seeded), builds
the MLP (or takes a model), fixes what Opacus can fix, and trains with a `PrivacyEngine` (or plain
SGD when ``config.private`` is False). Each epoch yields a record with the loss, test accuracy,
spent epsilon and wall time, for a results-store run and for live panels. Data order, Poisson
sampling, initial weights and the DP noise all come from the seed, so one seed gives one result.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from vega_lab.errors import PrivacyError, PrivacyModelError, VegaError
from vega_lab.models.threads import torch_threads
from vega_lab.privacy.config import DPTrainingConfig
from vega_lab.privacy.model_check import check_private_model, fix_model
from vega_lab.training.centralized import evaluate

if TYPE_CHECKING:
    from vega_lab.experiments.tracking import Run


@dataclass(frozen=True)
class DPEpochRecord:
    """One epoch. ``seconds`` is left out of equality: timings differ between identical runs."""

    epoch: int
    train_loss: float
    test_loss: float
    test_accuracy: float
    epsilon: float | None  # spent so far at the config's delta; None for the baseline
    steps: int  # optimizer steps (logical batches) so far
    seconds: float = field(compare=False)  # training time of this epoch, evaluation excluded

    def metrics(self) -> dict[str, float]:
        """The values a run records at step ``epoch``."""
        d = asdict(self)
        d.pop("epoch")
        return {k: v for k, v in d.items() if v is not None}


@dataclass(frozen=True)
class DPTrainingResult:
    config: DPTrainingConfig
    history: tuple[DPEpochRecord, ...]
    noise_multiplier: float | None  # sigma used (calibrated when a target epsilon was given)
    sample_rate: float  # the rate Opacus accounts for: 1 / batches per epoch
    steps: int
    fixes: tuple[str, ...]  # what ModuleValidator changed, one sentence each
    model: nn.Module = field(compare=False, repr=False)  # the trained (possibly fixed) model

    @property
    def final_accuracy(self) -> float:
        return self.history[-1].test_accuracy

    @property
    def final_epsilon(self) -> float | None:
        return self.history[-1].epsilon

    def final_metrics(self) -> dict[str, float]:
        out = {
            "test_accuracy": self.final_accuracy,
            "test_loss": self.history[-1].test_loss,
            "epsilon": self.final_epsilon,
            "noise_multiplier": self.noise_multiplier,
            "sample_rate": self.sample_rate,
            "steps": self.steps,
        }
        return {k: v for k, v in out.items() if v is not None}


@dataclass
class _Trainer:
    """What one epoch needs; ``engine`` is None for the baseline."""

    module: nn.Module  # what the batches go through (a GradSampleModule when private)
    optimizer: torch.optim.Optimizer
    criterion: Callable[..., Any]
    loader: DataLoader
    engine: Any = None
    physical: int | None = None  # BatchMemoryManager's physical batch limit


def _seeds(seed: int) -> tuple[int, int, int]:
    """Independent streams for the model init, data order/sampling and DP noise."""
    a, b, c = np.random.SeedSequence(seed).generate_state(3)
    return int(a), int(b), int(c)


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence Opacus/torch warnings that are expected here and say nothing to act on."""
    with warnings.catch_warnings():
        for message in (
            "Secure RNG turned off",  # secure_mode=False is what makes runs reproducible
            "Optimal order is the largest alpha",  # RDP's bound stays valid, just less tight
            "Full backward hook is firing",  # inputs never require grad here
        ):
            warnings.filterwarnings("ignore", message=message)
        yield


def _data(config: DPTrainingConfig) -> tuple[TensorDataset, torch.Tensor, torch.Tensor, int, int]:
    from vega_lab.datasets import load_dataset, train_test_split

    ds = load_dataset(config.dataset)
    x_tr, y_tr, x_te, y_te = train_test_split(ds, config.test_fraction, config.seed)
    train = TensorDataset(torch.from_numpy(x_tr), torch.from_numpy(y_tr))  # split = fresh copies
    return train, torch.from_numpy(x_te), torch.from_numpy(y_te), ds.n_features, ds.n_classes


def _make_private(config: DPTrainingConfig, trainer: _Trainer, noise_seed: int) -> _Trainer:
    from opacus import PrivacyEngine
    from opacus.validators.errors import UnsupportedModuleError

    engine = PrivacyEngine(accountant=config.accountant, secure_mode=False)
    common = dict(
        module=trainer.module,
        optimizer=trainer.optimizer,
        data_loader=trainer.loader,
        criterion=trainer.criterion,
        max_grad_norm=config.max_grad_norm,
        poisson_sampling=config.poisson_sampling,
        noise_generator=torch.Generator().manual_seed(noise_seed),
        grad_sample_mode=config.grad_sample_mode,
    )
    try:
        if config.target_epsilon is not None:
            out = engine.make_private_with_epsilon(
                **common,
                target_epsilon=config.target_epsilon,
                target_delta=config.delta,
                epochs=config.epochs,
            )
        else:
            out = engine.make_private(**common, noise_multiplier=config.noise_multiplier)
    except (NotImplementedError, UnsupportedModuleError) as exc:
        raise PrivacyModelError(
            f"Opacus cannot make this model private: {exc}",
            "replace the named layer, or try grad_sample_mode='hooks'",
        ) from exc
    except ValueError as exc:
        if "budget is too low" not in str(exc):
            raise
        raise PrivacyError(
            f"target epsilon {config.target_epsilon} is out of reach in {config.epochs} epochs "
            f"at delta {config.delta} (no noise multiplier up to 1e6 gets there)",
            "raise the target epsilon, train fewer epochs or use a smaller batch",
        ) from None
    module, optimizer, *rest = out
    criterion = rest[0] if len(rest) == 2 else trainer.criterion  # ghost wraps the loss
    physical = config.max_physical_batch_size
    return _Trainer(
        module,
        optimizer,
        criterion,
        rest[-1],
        engine,
        physical if physical is not None and physical < config.batch_size else None,
    )


def _epoch(t: _Trainer) -> float:
    """One pass over the (logical) batches; the mean training loss."""
    t.module.train()
    total, seen = 0.0, 0
    if t.physical is None:
        batches = _pass(t, t.loader)
    else:
        from opacus.utils.batch_memory_manager import BatchMemoryManager

        with BatchMemoryManager(
            data_loader=t.loader, max_physical_batch_size=t.physical, optimizer=t.optimizer
        ) as physical:
            batches = _pass(t, physical)
    for loss, n in batches:
        total += loss * n
        seen += n
    return total / seen if seen else float("nan")


def _pass(t: _Trainer, loader: DataLoader) -> list[tuple[float, int]]:
    out = []
    for xb, yb in loader:
        loss = t.criterion(t.module(xb), yb)
        loss.backward()
        t.optimizer.step()  # with BatchMemoryManager: a real step only at a logical batch's end
        t.optimizer.zero_grad(set_to_none=True)
        if len(yb):  # Poisson sampling can draw an empty batch: no loss to average
            out.append((loss.item(), len(yb)))
    return out


def _setup(
    config: DPTrainingConfig, model: nn.Module | None
) -> tuple[_Trainer, nn.Module, tuple[str, ...], torch.Tensor, torch.Tensor]:
    from vega_lab.models import mlp

    init_seed, data_seed, noise_seed = _seeds(config.seed)
    train, x_test, y_test, n_in, n_out = _data(config)
    config.sample_rate(len(train))  # batch_size > n_train is a sample rate above 1
    if model is None:
        model = mlp(n_in, config.hidden, n_out, seed=init_seed)
    fixes: tuple[str, ...] = ()
    if config.private:
        model, fixes = fix_model(model)
        check_private_model(model, config.grad_sample_mode)
    model.train()
    gen = torch.Generator().manual_seed(data_seed)
    loader = DataLoader(train, batch_size=config.batch_size, shuffle=True, generator=gen)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum)
    trainer = _Trainer(model, optimizer, nn.CrossEntropyLoss(), loader)
    if config.private:
        trainer = _make_private(config, trainer, noise_seed)
    return trainer, model, fixes, x_test, y_test


def train_private(
    config: DPTrainingConfig,
    model: nn.Module | None = None,
    *,
    on_epoch: Callable[[DPEpochRecord], None] | None = None,
    run: Run | None = None,
    progress: bool = False,
) -> DPTrainingResult:
    """DP-SGD (or, with ``config.private`` False, plain SGD) on ``config.dataset``.

    ``model`` defaults to the seeded MLP; a given model is trained in place unless Opacus must
    replace layers (then ``result.model`` is the fixed copy and ``result.fixes`` says what
    changed). Each epoch's record goes to ``run.log(step=epoch, ...)`` and ``on_epoch``; the
    final values to ``run.log_final``. Raises PrivacyModelError naming any layer that cannot be
    made private, PrivacyError for an unreachable budget or a batch larger than the data.
    """
    with torch_threads(config.threads), torch.random.fork_rng(devices=[]), _quiet():
        torch.manual_seed(config.seed)  # anything in the model that draws (dropout) is seeded
        trainer, base, fixes, x_test, y_test = _setup(config, model)
        history = _train(config, trainer, base, x_test, y_test, on_epoch, run, progress)
    engine = trainer.engine
    result = DPTrainingResult(
        config=config,
        history=tuple(history),
        noise_multiplier=float(trainer.optimizer.noise_multiplier) if engine else None,
        sample_rate=1.0 / len(trainer.loader),
        steps=history[-1].steps,
        fixes=fixes,
        model=base,
    )
    if run is not None:
        run.log_final(**result.final_metrics())
    return result


def _train(
    config: DPTrainingConfig,
    trainer: _Trainer,
    base: nn.Module,
    x_test: torch.Tensor,
    y_test: torch.Tensor,
    on_epoch: Callable[[DPEpochRecord], None] | None,
    run: Run | None,
    progress: bool,
) -> list[DPEpochRecord]:
    epochs: Any = range(1, config.epochs + 1)
    if progress:
        from tqdm.auto import tqdm

        epochs = tqdm(epochs, desc="DP-SGD" if config.private else "SGD", unit="epoch")
    history: list[DPEpochRecord] = []
    steps = 0
    for epoch in epochs:
        t0 = time.perf_counter()
        train_loss = _epoch(trainer)
        seconds = time.perf_counter() - t0
        if not math.isfinite(train_loss):
            raise VegaError(
                f"training diverged at epoch {epoch} (loss is not finite)",
                "lower the learning rate or the max grad norm",
            )
        steps += len(trainer.loader)
        test_loss, test_acc = evaluate(base, x_test, y_test)  # the unwrapped model: no hooks
        eps = trainer.engine.get_epsilon(config.delta) if trainer.engine else None
        record = DPEpochRecord(epoch, train_loss, test_loss, test_acc, eps, steps, seconds)
        history.append(record)
        if run is not None:
            run.log(step=epoch, **record.metrics())
        if on_epoch is not None:
            on_epoch(record)
    return history
