"""The round loop's robustness hooks, in one object so the loop stays short:

- `tamper`: the adversary rewrites its clients' rows of the stacked updates after local
  training (simulated malicious clients are rows of the tensor, not a loop);
- `inspect`: before aggregation, updates with NaN/Inf (or that an engine could not read) are
  rejected, never averaged, anomalies are flagged, and the round's audit entry records both
  plus what the aggregator made of every update;
- `round_fields`: the counts and the attack's own success metric for the round's record.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np
import torch

from vega_lab.federated.anomaly import THRESHOLD, detect
from vega_lab.federated.attacks import Adversary
from vega_lab.federated.audit import AuditEntry, AuditLog
from vega_lab.federated.strategies import ClientUpdates, Strategy

NON_FINITE = "update holds NaN or Inf values"


class RoundMonitor:
    def __init__(
        self,
        adversary: Adversary | None = None,
        *,
        threshold: float = THRESHOLD,
        attack_metrics: Callable[[torch.Tensor], dict[str, float]] | None = None,
        sees_updates: bool = True,
    ) -> None:
        """``sees_updates=False`` under secure aggregation: the server gets only the sum, so
        no per-client norms, cosines, flags or contributions are computed or recorded."""
        self.adversary = adversary
        self.sees_updates = sees_updates
        self.threshold = threshold
        self.attack_metrics = attack_metrics
        name = adversary.attack.name if adversary is not None else "none"
        malicious = sorted(adversary.malicious) if adversary is not None else []
        self.log = AuditLog(name, malicious)

    def tamper(self, rnd: int, ids: np.ndarray, deltas: torch.Tensor) -> torch.Tensor:
        if self.adversary is None or not self.adversary.active:
            return deltas
        return self.adversary.tamper(rnd, ids, deltas)

    def inspect(
        self,
        rnd: int,
        ids: np.ndarray,
        updates: ClientUpdates,
        strategy: Strategy,
        rejected: Mapping[int, str] | None = None,
    ) -> ClientUpdates | None:
        """The updates to aggregate (None when every one was rejected); records the round."""
        participants = [int(c) for c in ids]
        reasons = dict(rejected or {})
        finite = torch.isfinite(updates.deltas).all(1)
        for i, cid in enumerate(participants):
            if not finite[i] and cid not in reasons:
                reasons[cid] = NON_FINITE
        keep = torch.tensor([c not in reasons for c in participants], dtype=torch.bool)
        kept = None
        c = len(participants)
        norms, cosines, norm_z, cosine_z, share = (torch.full((c,), math.nan) for _ in range(5))
        flagged: list[int] = []
        if keep.any():
            kept = ClientUpdates(
                updates.deltas[keep],
                updates.num_examples[keep],
                updates.num_steps[keep],
                {k: v[keep] for k, v in updates.extras.items()},
            )
        kept_ids = [c for c in participants if c not in reasons]
        if kept is not None and self.sees_updates:
            found = detect(kept.deltas, self.threshold)
            for full, part in (
                (norms, found.norms),
                (cosines, found.cosines),
                (norm_z, found.norm_z),
                (cosine_z, found.cosine_z),
                (share, strategy.contributions(kept)),
            ):
                full[keep] = part.to(full.dtype)
            flagged = [cid for cid, f in zip(kept_ids, found.flagged.tolist(), strict=True) if f]
        share = torch.where(keep, share, torch.zeros_like(share))
        selected = (
            [c for c, s in zip(participants, share.tolist(), strict=True) if s > 0]
            if self.sees_updates
            else kept_ids  # the server cannot tell what each update contributed to the sum
        )
        malicious = self.adversary.malicious if self.adversary is not None else frozenset()
        self.log.entries.append(
            AuditEntry(
                round=rnd,
                aggregator=strategy.name,
                participants=participants,
                malicious=[c for c in participants if c in malicious],
                rejected=reasons,
                flagged=flagged,
                selected=selected,
                norms=norms.tolist(),
                cosines=cosines.tolist(),
                norm_z=norm_z.tolist(),
                cosine_z=cosine_z.tolist(),
                contributions=share.tolist(),
            )
        )
        return kept

    def round_fields(self, rnd: int, params: torch.Tensor) -> dict[str, float]:
        """``flagged``, ``rejected`` and the attack's metrics for the round's record."""
        entry = self.log.entry(rnd)
        out: dict[str, float] = {
            "flagged": len(entry.flagged) if entry else 0,
            "rejected": len(entry.rejected) if entry else 0,
        }
        if self.attack_metrics is not None:
            out |= self.attack_metrics(params)
        return out
