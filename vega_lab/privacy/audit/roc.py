"""ROC curves of membership tests, summarized the way the MIA literature asks: AUC and, above
all, the true-positive rate at a low false-positive rate (Carlini et al. 2022, "Membership
inference attacks from first principles": an attack is only worrying if it is confident)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vega_lab.errors import AuditError


@dataclass(frozen=True)
class RocSummary:
    auc: float
    tpr_at: dict[float, float]  # FPR -> TPR
    balanced_accuracy: float
    n_in: int
    n_out: int

    def as_dict(self) -> dict[str, float]:
        d = {"auc": self.auc, "balanced_accuracy": self.balanced_accuracy}
        for fpr, tpr in self.tpr_at.items():
            d[f"tpr_at_fpr_{fpr:g}"] = tpr
        return d


def roc_curve(scores_in: np.ndarray, scores_out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(FPR, TPR) of 'score >= t means member' for every threshold t, from (0, 0) to (1, 1)."""
    scores_in = np.asarray(scores_in, dtype=float).ravel()
    scores_out = np.asarray(scores_out, dtype=float).ravel()
    if len(scores_in) == 0 or len(scores_out) == 0:
        raise AuditError("a ROC curve needs both member and non-member scores")
    if not (np.isfinite(scores_in).all() and np.isfinite(scores_out).all()):
        raise AuditError("attack scores contain NaN or infinity", "check the scored model")
    thresholds = np.unique(np.concatenate([scores_in, scores_out]))[::-1]
    s_in, s_out = np.sort(scores_in), np.sort(scores_out)
    tpr = (len(s_in) - np.searchsorted(s_in, thresholds, side="left")) / len(s_in)
    fpr = (len(s_out) - np.searchsorted(s_out, thresholds, side="left")) / len(s_out)
    return np.concatenate([[0.0], fpr]), np.concatenate([[0.0], tpr])


def summarize(
    scores_in: np.ndarray, scores_out: np.ndarray, fprs: tuple[float, ...] = (0.001, 0.01)
) -> RocSummary:
    """AUC (ties count half), TPR at each FPR (the best TPR with FPR <= the target), and the
    best balanced accuracy over thresholds."""
    fpr, tpr = roc_curve(scores_in, scores_out)
    auc = float(np.trapezoid(tpr, fpr))
    tpr_at = {f: float(tpr[fpr <= f].max()) for f in fprs}
    return RocSummary(
        auc=auc,
        tpr_at=tpr_at,
        balanced_accuracy=float(np.max((tpr + 1.0 - fpr) / 2.0)),
        n_in=int(np.size(scores_in)),
        n_out=int(np.size(scores_out)),
    )


def roc_frame(scores_in: np.ndarray, scores_out: np.ndarray, label: str, points: int = 400):
    """A small pandas frame (fpr, tpr, attack) for log-scale ROC charts: thinned to ``points``
    rows spaced evenly in log(FPR), zero FPR clipped to 1/n so a log axis can show it."""
    import pandas as pd

    fpr, tpr = roc_curve(scores_in, scores_out)
    floor = 1.0 / max(len(np.ravel(scores_out)), 1)
    fpr = np.maximum(fpr, floor)
    grid = np.geomspace(floor, 1.0, points)
    idx = np.unique(np.searchsorted(fpr, grid, side="right") - 1)
    idx = idx[idx >= 0]
    return pd.DataFrame({"fpr": fpr[idx], "tpr": tpr[idx], "attack": label})
