"""One validated description of a federated simulation: a Papermill parameter set, a widget
form and a Flower run config all map onto it, and it is recorded with every run."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from vega_lab.errors import FederatedError, UnknownNameError
from vega_lab.registry import check_name


class FederatedConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: str = "digits"
    partition: str = "iid"
    alpha: float = 0.5  # Dirichlet concentration (label or quantity skew)
    labels_per_client: int = 2  # for the "shards" partition
    num_clients: int = Field(10, ge=1)
    fraction: float = 1.0  # clients sampled per round
    rounds: int = Field(10, ge=1)
    local_epochs: int = Field(1, ge=1)
    batch_size: int = Field(32, ge=1)
    lr: float = Field(0.1, gt=0)
    hidden: tuple[int, ...] = (32,)
    strategy: str = "fedavg"
    strategy_options: dict[str, float | str] = Field(default_factory=dict)  # numbers or names
    engine: str = "vectorized"
    compression: str = "none"
    compression_ratio: float = 0.1  # for "topk"
    dropout: float = Field(0.0, ge=0, lt=1)  # a sampled client fails to report
    stragglers: float = Field(0.0, ge=0, lt=1)  # a sampled client is slow
    straggler_policy: Literal["drop", "partial"] = "drop"  # misses the round, or sends partial work
    target_accuracy: float | None = None  # stop once the global test accuracy reaches it
    patience: int | None = None  # stop after this many rounds without loss improvement
    min_delta: float = 1e-4
    test_fraction: float = 0.2  # held out on the server for the global model
    client_test_fraction: float = 0.0  # held out on each client for per-client evaluation
    attack: str = "none"  # simulated malicious clients (vega_lab.federated.attacks)
    attack_options: dict[str, float] = Field(default_factory=dict)
    malicious_fraction: float = Field(0.0, ge=0, lt=1)  # share of clients that are malicious
    anomaly_threshold: float = Field(3.5, gt=0)  # robust z-score beyond which a client is flagged
    secure_aggregation: bool = False  # SecAgg+: the server sees only the sum (federated.secure)
    secure_clip: float = Field(1.0, gt=0)  # secure aggregation clips deltas to [-c, c]
    seed: int = 0

    @field_validator("fraction")
    @classmethod
    def _fraction(cls, v: float) -> float:
        if not 0.0 < v <= 1.0:
            raise ValueError(f"fraction must be in (0, 1], got {v}")
        return v

    @field_validator("alpha")
    @classmethod
    def _alpha(cls, v: float) -> float:
        if not v > 0:
            raise ValueError(f"alpha must be > 0, got {v}")
        return v

    @field_validator("client_test_fraction")
    @classmethod
    def _client_test(cls, v: float) -> float:
        if not 0.0 <= v < 1.0:
            raise ValueError(f"client_test_fraction must be in [0, 1), got {v}")
        return v

    @model_validator(mode="after")
    def _names(self) -> FederatedConfig:
        from vega_lab.datasets.shipped import DATASETS
        from vega_lab.federated.attacks import ATTACKS
        from vega_lab.federated.compression import COMPRESSORS
        from vega_lab.federated.engines import ENGINES
        from vega_lab.federated.partitioning import PARTITIONERS
        from vega_lab.federated.strategies import STRATEGIES

        for what, value, valid in (
            ("dataset", self.dataset, DATASETS),
            ("partition", self.partition, PARTITIONERS),
            ("strategy", self.strategy, STRATEGIES),
            ("engine", self.engine, ENGINES),
            ("compression", self.compression, COMPRESSORS),
            ("attack", self.attack, ATTACKS),
        ):
            check_name(value, valid, what)
        return self

    def partition_options(self) -> dict[str, float]:
        if self.partition in ("dirichlet", "quantity_skew"):
            return {"alpha": self.alpha}
        if self.partition == "shards":
            return {"labels_per_client": self.labels_per_client}
        return {}

    @classmethod
    def make(cls, **values: Any) -> FederatedConfig:
        """Build from loose values (widgets, Papermill), turning validation failures into one
        `FederatedError` that names every bad field."""
        try:
            return cls(**values)
        except UnknownNameError:
            raise
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'config'}: {e['msg']}" for e in exc.errors()
            )
            raise FederatedError(f"invalid federated config: {problems}") from None
