"""The audit report: the claim, what the audit proved, how the attack did, and a verdict.

The verdict is deliberately blunt. A lower bound above the claimed epsilon means the training
does not have the privacy it claims (at the stated confidence): "DP VIOLATION". Otherwise the
claim stands *as far as this audit can tell*; ``tightness`` (bound / claim) says how much of
the claim the audit could confirm, so a loose audit is not mistaken for a privacy guarantee.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vega_lab.privacy.audit.config import AuditConfig
from vega_lab.privacy.audit.roc import RocSummary

VIOLATION = "DP VIOLATION"
CONSISTENT = "CONSISTENT"


@dataclass(frozen=True)
class AuditReport:
    config: AuditConfig
    claimed_epsilon: float
    noise_multiplier: float
    empirical_epsilon_lb: float
    method: str
    bounds: dict[str, float]  # every bound computed, by name (the primary one is `method`)
    attack: RocSummary
    seconds: float
    observations: int
    scores_in: np.ndarray = field(repr=False)
    scores_out: np.ndarray = field(repr=False)

    @property
    def confidence(self) -> float:
        return self.config.confidence

    @property
    def verdict(self) -> str:
        return VIOLATION if self.empirical_epsilon_lb > self.claimed_epsilon else CONSISTENT

    @property
    def tightness(self) -> float:
        return self.empirical_epsilon_lb / self.claimed_epsilon

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary (what the CLI prints last and the results store keeps)."""
        c = self.config
        return {
            "claimed_epsilon": self.claimed_epsilon,
            "empirical_epsilon_lb": self.empirical_epsilon_lb,
            "confidence": c.confidence,
            "verdict": self.verdict,
            "tightness": self.tightness,
            "method": self.method,
            "bounds": dict(self.bounds),
            "delta": c.delta,
            "noise_multiplier": self.noise_multiplier,
            "noise_scale": c.noise_scale,
            "threat": c.threat,
            "canary": c.canary_kind,
            "trials": c.trials,
            "canaries": c.canaries,
            "observations": self.observations,
            "steps": c.steps,
            "sample_rate": c.sample_rate,
            "accountant": c.accountant,
            "attack": self.attack.as_dict(),
            "seconds": self.seconds,
            "seed": c.seed,
        }

    def summary(self) -> str:
        """A few human lines; the verdict line is loud on purpose."""
        c = self.config
        lines = [
            f"audit: {c.threat} ({c.canary_kind} canaries), {c.trials} run(s) x {c.canaries} "
            f"canar{'y' if c.canaries == 1 else 'ies'}, {self.method}, {self.seconds:.1f} s",
            f"claimed epsilon      {self.claimed_epsilon:.3f}  (delta {c.delta:g}, "
            f"{c.accountant}, noise multiplier {self.noise_multiplier:.4f})",
            f"empirical epsilon lb {self.empirical_epsilon_lb:.3f}  at {c.confidence:.0%} "
            f"confidence ({self.tightness:.0%} of the claim)",
            "other bounds         " + ", ".join(f"{k} {v:.3f}" for k, v in self.bounds.items()),
            f"attack               AUC {self.attack.auc:.3f}, "
            + ", ".join(f"TPR@{f:.1%} FPR {t:.3f}" for f, t in self.attack.tpr_at.items()),
        ]
        if self.verdict == VIOLATION:
            lines.append(
                f"*** DP VIOLATION: the audit proves epsilon >= {self.empirical_epsilon_lb:.3f} "
                f"> claimed {self.claimed_epsilon:.3f} ***"
            )
        else:
            lines.append(f"verdict              {CONSISTENT} with the claim (no violation found)")
        return "\n".join(lines)

    def roc_chart(self):
        """Log-log ROC of the audit's distinguishing test (altair)."""
        import altair as alt
        import pandas as pd

        from vega_lab.privacy.audit.roc import roc_frame

        frame = roc_frame(self.scores_in, self.scores_out, label=f"{self.config.threat} audit")
        floor = float(frame["fpr"].min())
        diag = (
            alt.Chart(pd.DataFrame({"fpr": [floor, 1.0], "tpr": [floor, 1.0]}))
            .mark_line(strokeDash=[4, 4], color="gray")
            .encode(x="fpr:Q", y="tpr:Q")
        )
        curve = (
            alt.Chart(frame)
            .mark_line()
            .encode(
                x=alt.X("fpr:Q", scale=alt.Scale(type="log"), title="false positive rate"),
                y=alt.Y("tpr:Q", scale=alt.Scale(type="log"), title="true positive rate"),
                color=alt.Color("attack:N", title=None),
            )
        )
        return (diag + curve).properties(title="audit ROC (log-log)", width=320, height=280)

    def bound_chart(self):
        """The empirical lower bound(s) against the claimed epsilon (altair bar chart)."""
        import altair as alt
        import pandas as pd

        rows = [{"what": "claimed", "epsilon": self.claimed_epsilon}]
        rows += [{"what": f"lb: {k}", "epsilon": v} for k, v in self.bounds.items()]
        bars = (
            alt.Chart(pd.DataFrame(rows))
            .mark_bar()
            .encode(
                y=alt.Y("what:N", sort=None, title=None),
                x=alt.X("epsilon:Q", title="epsilon"),
                color=alt.condition(
                    alt.datum.epsilon > self.claimed_epsilon,
                    alt.value("crimson"),
                    alt.value("steelblue"),
                ),
            )
        )
        rule = (
            alt.Chart(pd.DataFrame({"epsilon": [self.claimed_epsilon]}))
            .mark_rule(color="black")
            .encode(x="epsilon:Q")
        )
        return (bars + rule).properties(
            title=f"{self.verdict}: bound vs claim", width=320, height=120
        )


def sweep_chart(frame: Any, *, by: str | None = None, width: int = 360, height: int = 300):
    """Empirical epsilon lower bound against the claimed epsilon across runs (altair): a point
    per run, coloured by verdict, the mean per claim as a line, and the diagonal a violating
    run lands above. One chart answers "how much of each claim can the audit confirm?".

    ``frame`` has one row per run with ``claimed_epsilon`` and ``empirical_epsilon_lb``:
    a results-store ``runs_frame(sweep_id=...)`` (its ``m.``/``p.`` prefixes are dropped,
    unfinished runs skipped) or rows of `AuditReport.as_dict`. ``by`` names a column (e.g.
    ``"noise_scale"``) that splits the runs into one line and one point shape per value.
    """
    import altair as alt
    import pandas as pd

    from vega_lab.errors import AuditError

    data = pd.DataFrame(frame).copy()
    for prefix in ("p.", "m."):  # metrics win over a parameter of the same name
        data = data.rename(columns={c: c[2:] for c in data.columns if c.startswith(prefix)})
    data = data.loc[:, ~data.columns.duplicated(keep="last")]
    need = ["claimed_epsilon", "empirical_epsilon_lb"]
    missing = [c for c in need + ([by] if by else []) if c not in data.columns]
    if missing:
        raise AuditError(
            f"sweep_chart needs the column(s) {', '.join(missing)}",
            "pass runs_frame(sweep_id=...) of dp_audit runs, or AuditReport.as_dict() rows",
        )
    data = data.dropna(subset=need)
    if data.empty:
        raise AuditError("no finished audit runs to chart", "wait for the sweep to finish")
    data["verdict"] = [
        VIOLATION if lb > c else CONSISTENT
        for c, lb in zip(data["claimed_epsilon"], data["empirical_epsilon_lb"], strict=True)
    ]
    keep = [c for c in ("run_id", "seed", by) if c and c in data.columns]
    data = data[[*need, "verdict", *keep]].copy()
    if by:  # a category, even when numeric (noise_scale 1.0 vs 0.1)
        data[by] = data[by].astype(str)
    top = float(data["claimed_epsilon"].max())
    x = alt.X("claimed_epsilon:Q", title="claimed epsilon", scale=alt.Scale(zero=True))
    y = alt.Y("empirical_epsilon_lb:Q", title="empirical epsilon (lower bound)")
    claim = (
        alt.Chart(pd.DataFrame({"claimed_epsilon": [0.0, top], "empirical_epsilon_lb": [0.0, top]}))
        .mark_line(strokeDash=[4, 4], color="gray")
        .encode(x=x, y=y)
    )
    group = {"detail": f"{by}:N"} if by else {}
    mean = (
        alt.Chart(data)
        .mark_line(color="gray", opacity=0.6)
        .encode(x=x, y=alt.Y("mean(empirical_epsilon_lb):Q"), **group)
    )
    points = (
        alt.Chart(data)
        .mark_point(filled=True, size=70)
        .encode(
            x=x,
            y=y,
            color=alt.Color(
                "verdict:N",
                scale=alt.Scale(domain=[CONSISTENT, VIOLATION], range=["#1b7f3b", "#b00020"]),
            ),
            **({"shape": alt.Shape(f"{by}:N")} if by else {}),
            tooltip=[*need, "verdict:N", *keep],
        )
    )
    return (claim + mean + points).properties(
        title="claimed vs empirical epsilon (dashed: bound = claim)", width=width, height=height
    )
