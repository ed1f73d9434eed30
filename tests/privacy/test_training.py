"""DP-SGD on Opacus (vega_lab.privacy.training): budgets, modes, memory manager, seeds, model
fixes and refusals, bad input, and the results store. Small runs on digits (~23 steps/epoch)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from vega_lab.errors import PrivacyError, PrivacyModelError, VegaError
from vega_lab.privacy.config import GRAD_SAMPLE_MODES, DPTrainingConfig
from vega_lab.privacy.training import DPEpochRecord, DPTrainingResult, train_private

NOISY = {"noise_multiplier": 1.0, "epochs": 2}


@pytest.fixture(scope="module")
def private_run() -> DPTrainingResult:
    return train_private(DPTrainingConfig(target_epsilon=8.0, epochs=2))


def test_private_run_spends_epsilon_up_to_the_target(private_run: DPTrainingResult) -> None:
    eps = [r.epsilon for r in private_run.history]
    assert len(eps) == 2 and 0 < eps[0] < eps[1]
    # Opacus calibrates sigma by bisection to within 0.01 below the target
    assert 8.0 - 0.05 <= private_run.final_epsilon <= 8.0 + 1e-9
    assert private_run.final_accuracy > 0.5  # chance is 0.1
    assert private_run.noise_multiplier is not None and private_run.noise_multiplier > 0
    assert private_run.steps == 2 * round(1 / private_run.sample_rate)
    assert private_run.fixes == ()


def test_baseline_is_the_same_training_without_dp(private_run: DPTrainingResult) -> None:
    base = train_private(private_run.config.baseline())
    assert base.config.private is False and base.noise_multiplier is None
    assert all(r.epsilon is None for r in base.history) and base.final_epsilon is None
    assert (base.sample_rate, base.steps) == (private_run.sample_rate, private_run.steps)
    assert base.final_accuracy > 0.75
    assert "epsilon" not in base.final_metrics()


@pytest.mark.parametrize("mode", GRAD_SAMPLE_MODES)
def test_every_grad_sample_mode_trains(mode: str) -> None:
    res = train_private(DPTrainingConfig(grad_sample_mode=mode, **NOISY))
    assert res.final_accuracy > 0.5
    assert res.final_epsilon == pytest.approx(2.7595, abs=1e-3)  # accounting ignores the mode


def test_batch_memory_manager_matches_the_unsplit_run() -> None:
    """Logical batches of ~64 run as physical batches of <= 16; the step is the same."""
    from vega_lab.models import mlp

    model = mlp(64, [64, 32], 10, seed=3)
    sizes: list[int] = []

    def record(module: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        if module.training:  # evaluation runs the whole test set at once
            sizes.append(len(args[0]))

    model.register_forward_pre_hook(record)
    split = train_private(
        DPTrainingConfig(max_physical_batch_size=16, seed=3, **NOISY), model, progress=True
    )
    whole = train_private(DPTrainingConfig(seed=3, **NOISY), mlp(64, [64, 32], 10, seed=3))
    assert 0 < max(sizes) <= 16
    assert split.steps == whole.steps and split.final_epsilon == whole.final_epsilon
    for a, b in zip(split.history, whole.history, strict=True):
        assert a.test_accuracy == pytest.approx(b.test_accuracy, abs=0.02)


def test_one_seed_gives_one_result() -> None:
    cfg = DPTrainingConfig(seed=7, epochs=1, noise_multiplier=1.0)
    a, b = train_private(cfg), train_private(cfg)
    assert a.history == b.history  # seconds are left out of equality
    for p, q in zip(a.model.parameters(), b.model.parameters(), strict=True):
        assert torch.equal(p, q)
    other = train_private(cfg.model_copy(update={"seed": 8}))
    assert other.history != a.history


def test_batchnorm_is_replaced_and_the_fix_reported() -> None:
    model = nn.Sequential(nn.Linear(64, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, 10))
    res = train_private(DPTrainingConfig(**NOISY), model)
    assert res.fixes == (
        "BatchNorm1d at '1' replaced by GroupNorm(1, 32, eps=1e-05, affine=True, bias=True)",
    )
    assert isinstance(res.model[1], nn.GroupNorm) and isinstance(model[1], nn.BatchNorm1d)
    assert res.final_accuracy > 0.4


class RunningScale(nn.Module):
    """A learnable scale that also tracks a running mean: trainable and stateful."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))
        self.register_buffer("running_mean", torch.zeros(n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.running_mean.mul_(0.9).add_(0.1 * x.detach().mean(0))
        return x * self.weight


class Scale(nn.Module):
    def __init__(self, n: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weight


@pytest.mark.parametrize(
    ("middle", "mode", "match"),
    [
        (RunningScale(32), "hooks", r"RunningScale at '1' is trainable and keeps buffers"),
        (Scale(32), "ew", r"Scale at '1' has no Expanded Weights rule"),
        (nn.BatchNorm1d(32, affine=False), "hooks", r"BatchNorm1d at '1' normalizes with batch"),
    ],
    ids=["buffers", "ew-custom-layer", "frozen-batchnorm"],
)
def test_a_model_opacus_cannot_make_private_names_the_layer(
    middle: nn.Module, mode: str, match: str
) -> None:
    model = nn.Sequential(nn.Linear(64, 32), middle, nn.ReLU(), nn.Linear(32, 10))
    with pytest.raises(PrivacyModelError, match=match) as info:
        train_private(DPTrainingConfig(grad_sample_mode=mode, **NOISY), model)
    assert info.value.hint


def test_a_custom_layer_trains_under_hooks_through_functorch() -> None:
    model = nn.Sequential(nn.Linear(64, 32), Scale(32), nn.ReLU(), nn.Linear(32, 10))
    assert train_private(DPTrainingConfig(**NOISY), model).final_accuracy > 0.4


@pytest.mark.parametrize(
    ("values", "match"),
    [
        ({"target_epsilon": 0.0}, r"target epsilon must be a finite number > 0, got 0\.0"),
        ({"target_epsilon": -1.0}, "target epsilon must be a finite number > 0"),
        ({"target_epsilon": float("nan")}, "target epsilon must be a finite number > 0"),
        ({"target_epsilon": 1.0, "delta": 0.0}, r"delta must lie in \(0, 1\), got 0\.0"),
        ({"target_epsilon": 1.0, "delta": 1.0}, r"delta must lie in \(0, 1\)"),
        ({"target_epsilon": 1.0, "delta": -1e-5}, r"delta must lie in \(0, 1\)"),
        ({"noise_multiplier": 0.0}, "noise multiplier must be a finite number > 0"),
        ({"noise_multiplier": 1.0, "max_grad_norm": -1.0}, "max grad norm must be"),
        ({}, "exactly one of target_epsilon and noise_multiplier"),
        ({"target_epsilon": 1.0, "noise_multiplier": 1.0}, "exactly one of"),
        ({"noise_multiplier": 1.0, "grad_sample_mode": "magic"}, "grad_sample_mode"),
        ({"noise_multiplier": 1.0, "epochs": 0, "lr": -1}, "epochs: .*; lr: "),
        ({"noise_multiplier": 1.0, "epsilon": 1.0}, "epsilon: Extra inputs"),
    ],
)
def test_bad_config_raises_privacy_error(values: dict, match: str) -> None:
    with pytest.raises(PrivacyError, match=match) as info:
        DPTrainingConfig(**values)
    assert isinstance(info.value, VegaError)


def test_baseline_config_needs_no_budget_but_checks_its_range() -> None:
    assert DPTrainingConfig(private=False).noise_multiplier is None
    with pytest.raises(PrivacyError, match="target epsilon"):
        DPTrainingConfig(private=False, target_epsilon=-2.0)


def test_sample_rate_above_one_is_refused_before_training() -> None:
    with pytest.raises(PrivacyError, match=r"sample rate must lie in \(0, 1\], got 1\.3"):
        train_private(DPTrainingConfig(batch_size=2000, **NOISY))


def test_unreachable_epsilon_is_a_privacy_error() -> None:
    with pytest.raises(PrivacyError, match=r"target epsilon 0\.01 is out of reach"):
        train_private(DPTrainingConfig(target_epsilon=0.01, epochs=1))


def test_epochs_land_in_the_results_store(workspace: Path) -> None:
    from vega_lab.experiments import tracking

    cfg = DPTrainingConfig(**NOISY)
    run = tracking.current_run(params=cfg.model_dump(mode="json"), seed=cfg.seed)
    seen: list[DPEpochRecord] = []
    res = train_private(cfg, run=run, on_epoch=seen.append)
    assert tuple(seen) == res.history
    frame = run.metrics()
    steps = frame[frame["kind"] == "step"]
    eps = steps[steps["name"] == "epsilon"].sort_values("step")
    assert eps["step"].tolist() == [1, 2]
    assert eps["value"].tolist() == pytest.approx([r.epsilon for r in res.history])
    assert set(steps["name"]) >= {"train_loss", "test_accuracy", "epsilon", "seconds"}
    finals = frame[frame["kind"] == "final"].set_index("name")["value"]
    assert finals["test_accuracy"] == pytest.approx(res.final_accuracy)
    assert finals["epsilon"] == pytest.approx(res.final_epsilon)
    assert (workspace / "data" / "results.sqlite").is_file()


def test_epsilon_sweep_expands_to_valid_notebook_runs_with_a_baseline() -> None:
    from tests.conftest import REPO
    from vega_lab.experiments.parameters import check_parameters
    from vega_lab.experiments.spec import load_spec

    spec, notebook = load_spec(REPO / "experiments" / "sweeps" / "dp_epsilon.yaml")
    runs = spec.expand()
    for params, _seed in runs:
        check_parameters(notebook, params)
    assert {p["epsilon"] for p, _ in runs} == {0.5, 1.0, 2.0, 4.0, 8.0, None}  # None: no DP
