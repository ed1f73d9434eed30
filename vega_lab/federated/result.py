"""What a federated simulation returns, whatever the engine: its own module because both
`simulate` and the engines that run a whole simulation themselves (Flower) build it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from vega_lab.federated.audit import AuditLog
from vega_lab.federated.config import FederatedConfig
from vega_lab.federated.model import ParamSpec
from vega_lab.federated.rounds import RoundRecord
from vega_lab.federated.strategies import State

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class FederatedResult:
    config: FederatedConfig
    history: list[RoundRecord]
    params: torch.Tensor
    spec: ParamSpec
    state: State
    client_metrics: dict[int, dict[str, float]]
    client_stats: list[dict[str, Any]]
    stop_reason: str
    extra: dict[str, Any] = field(default_factory=dict)
    audit: AuditLog = field(default_factory=AuditLog)  # per round: flagged, rejected, aggregated

    def frame(self) -> pd.DataFrame:
        """One row per round: accuracy, loss, clients, bytes, seconds, ..."""
        import pandas as pd

        return pd.DataFrame([r.as_dict() for r in self.history])

    def clients_frame(self) -> pd.DataFrame:
        """One row per client: its statistics and its last reported metrics."""
        import pandas as pd

        rows = []
        for cid, stats in enumerate(self.client_stats):
            rows.append({"client": cid, **stats, **self.client_metrics.get(cid, {})})
        return pd.DataFrame(rows).assign(client=lambda d: d["client"].astype(int))

    def audit_frame(self) -> pd.DataFrame:
        """The audit log, one row per round and participant: malicious, rejected (and why),
        flagged, its coefficient in the aggregate, update norm and cosine, their z-scores."""
        return self.audit.frame()

    def export_audit(self, path: str | Path) -> Path:
        """Write the audit log: ``.jsonl`` (one object per round; `AuditLog.read` reads it
        back) or ``.csv`` (`audit_frame`)."""
        return self.audit.export(path)

    @property
    def final_accuracy(self) -> float:
        return self.history[-1].accuracy if self.history else float("nan")

    def tensors(self) -> dict[str, torch.Tensor]:
        named = self.spec.unflatten(self.params)
        return {
            **{f"model.{k}": v.contiguous() for k, v in named.items()},
            **{f"state.{k}": v.contiguous() for k, v in self.state.items()},
        }

    def save(self, path: str | Path, *, key: bytes | None = None) -> Path:
        """Global model + strategy state as checksummed (optionally signed) safetensors."""
        from vega_lab.federated.serialization import save

        meta = {
            "config": self.config.model_dump_json(),
            "stop_reason": self.stop_reason,
            "history": json.dumps([r.as_dict() for r in self.history]),
        }
        save(path, self.tensors(), key=key, metadata=meta)
        return Path(path)
