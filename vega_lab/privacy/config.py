"""One validated description of a DP-SGD training run (and of its non-private baseline).

A Papermill parameter set, a widget form and a benchmark all build this object, and it is recorded
with every run. Flipping ``private`` to False gives the baseline: same data split, model, seed,
batch size, learning rate and epochs, trained with plain SGD.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from vega_lab.errors import PrivacyError
from vega_lab.privacy.validation import (
    check_delta,
    check_epsilon,
    check_max_grad_norm,
    check_noise_multiplier,
    check_sample_rate,
)

GradSampleMode = Literal["hooks", "functorch", "ew", "ghost"]
# Opacus 1.6 on one process: "hooks" (per-layer grad samplers, functorch for the rest),
# "functorch" (vmap everywhere), "ew" (torch's Expanded Weights; Linear/Conv/Embedding/norm layers
# only), "ghost" (ghost clipping: per-sample norms without materializing per-sample gradients;
# flat clipping only). "ghost_fsdp"/"ghost_tp" need a distributed setup and are left out.
GRAD_SAMPLE_MODES: tuple[str, ...] = ("hooks", "functorch", "ew", "ghost")


class DPTrainingConfig(BaseModel):
    """DP-SGD on a shipped dataset. Bad values raise `PrivacyError` naming the field."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: Literal["digits", "mnist"] = "digits"
    hidden: tuple[int, ...] = (64, 32)
    epochs: int = Field(5, ge=1)
    lr: float = Field(0.1, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)  # digits' ~23 steps per epoch need it, DP or not
    batch_size: int = Field(64, ge=1)  # expected logical batch; sample rate = batch / n_train
    max_physical_batch_size: int | None = Field(None, ge=1)  # split larger batches (memory)
    private: bool = True  # False: the same training with plain SGD, the baseline
    target_epsilon: float | None = None  # exactly one of target_epsilon / noise_multiplier
    noise_multiplier: float | None = None
    delta: float = 1e-5
    max_grad_norm: float = 1.0
    accountant: Literal["rdp", "prv", "gdp"] = "rdp"
    grad_sample_mode: GradSampleMode = "hooks"
    poisson_sampling: bool = True
    test_fraction: float = Field(0.2, gt=0, lt=1)
    seed: int = 0
    threads: int = Field(1, ge=1)  # torch threads while training; 1 keeps runs bit-identical

    def __init__(self, **values: Any) -> None:
        # pydantic wraps a validator's ValueError (PrivacyError is one) in ValidationError;
        # unwrap so callers catch one VegaError that says what and what next.
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise _privacy_error(exc) from None

    @field_validator("target_epsilon")
    @classmethod
    def _epsilon(cls, v: float | None) -> float | None:
        return None if v is None else check_epsilon(v, "target epsilon")

    @field_validator("noise_multiplier")
    @classmethod
    def _noise(cls, v: float | None) -> float | None:
        return None if v is None else check_noise_multiplier(v)

    @field_validator("delta")
    @classmethod
    def _delta(cls, v: float) -> float:
        return check_delta(v)

    @field_validator("max_grad_norm")
    @classmethod
    def _clip(cls, v: float) -> float:
        return check_max_grad_norm(v)

    @field_validator("hidden")
    @classmethod
    def _hidden(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if any(h < 1 for h in v):
            raise ValueError(f"hidden sizes must be >= 1, got {list(v)}")
        return v

    @model_validator(mode="after")
    def _budget(self) -> DPTrainingConfig:
        if self.private and (self.target_epsilon is None) == (self.noise_multiplier is None):
            raise PrivacyError(
                "a private run needs exactly one of target_epsilon and noise_multiplier, got "
                f"target_epsilon={self.target_epsilon}, noise_multiplier={self.noise_multiplier}",
                "give a target epsilon (noise is calibrated to it) or a fixed noise multiplier",
            )
        return self

    def sample_rate(self, n_train: int) -> float:
        """Poisson rate q = batch_size / n_train, checked to lie in (0, 1]."""
        return check_sample_rate(self.batch_size / n_train if n_train > 0 else 0.0)

    def baseline(self) -> DPTrainingConfig:
        """The same run without DP."""
        return self.model_copy(update={"private": False})


def _privacy_error(exc: ValidationError) -> PrivacyError:
    """One PrivacyError: the original one when a single check failed, else all problems."""
    errors = exc.errors()
    originals = [e.get("ctx", {}).get("error") for e in errors]
    if len(errors) == 1 and isinstance(originals[0], PrivacyError):
        return originals[0]
    problems = "; ".join(
        f"{'.'.join(map(str, e['loc'])) or 'config'}: "
        + (str(o) if isinstance(o, PrivacyError) else f"{e['msg']} (got {e.get('input')!r})")
        for e, o in zip(errors, originals, strict=True)
    )
    return PrivacyError(
        f"invalid DP training config: {problems}", "see DPTrainingConfig for the allowed values"
    )
