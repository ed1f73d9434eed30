"""AuditPanel: audit a DP-SGD training's claimed epsilon in the background and show the verdict."""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w

from vega_lab.panels.base import COLORS, RunPanel
from vega_lab.privacy.audit import VIOLATION, AuditConfig, AuditReport, run_audit

# The threat model decides the canary: label -> AuditConfig.threat.
THREATS = (
    ("white-box (gradient canaries)", "white-box"),
    ("black-box (input canaries)", "black-box"),
)


class AuditPanel(RunPanel):
    """Pick the claimed epsilon, the threat model (which canary) and the audit's size; Run
    trains the audited copies in a background thread (the kernel stays responsive) and shows
    the ROC of the attack, the lower bound(s) against the claim and the verdict.

    The "noise ×" control plants a bug: below 1 the training secretly adds only that fraction
    of the noise its claim needs, so an audit should catch it. Keyword arguments set the
    controls (``AuditPanel(epsilon=4, trials=1000)``); other `AuditConfig` fields given here
    (``steps=20``) are passed through as fixed.
    """

    busy = "an audit is in progress: wait for it to end"
    thread_name = "vega-audit"

    def __init__(self, **values: Any) -> None:
        d = AuditConfig()
        wide = {"style": {"description_width": "110px"}, "layout": w.Layout(width="280px")}
        # Bounded at 0 (not above) so an impossible claim reaches the library and its message.
        self.epsilon = w.BoundedFloatText(
            value=d.epsilon, min=0.0, max=100.0, step=0.5, description="Claimed ε", **wide
        )
        self.threat = w.Dropdown(options=THREATS, value=d.threat, description="Threat", **wide)
        self.trials = w.IntText(value=d.trials, description="Trials (runs)", **wide)
        self.canaries = w.IntText(value=d.canaries, description="Canaries/run", **wide)
        self.noise_scale = w.FloatSlider(
            value=d.noise_scale,
            min=0.05,
            max=1.0,
            step=0.05,
            readout_format=".2f",
            description="Noise × (bug)",
            **wide,
        )
        self.seed = w.IntText(value=d.seed, description="Seed", **wide)
        names = ("epsilon", "threat", "trials", "canaries", "noise_scale", "seed")
        self.controls: dict[str, w.ValueWidget] = {k: getattr(self, k) for k in names}

        self.run_button = w.Button(description="Run audit", icon="play", button_style="primary")
        self.progress = w.IntProgress(value=0, min=0, max=1, description="Trained")
        self.progress_label = w.Label()
        self.status = w.HTML()
        self.verdict = w.HTML()
        self.chart = w.Output()
        self.verdict.add_class("vega-audit-verdict")
        hint = w.HTML(
            "<small>Noise × 1.0 is an honest DP-SGD; below 1 the run secretly adds only that "
            "fraction of the noise its claim needs (a planted bug).</small>"
        )
        c = self.controls
        super().__init__(
            [
                w.HBox(
                    [
                        w.VBox([c["epsilon"], c["threat"], c["noise_scale"]]),
                        w.VBox([c["trials"], c["canaries"], c["seed"]]),
                    ]
                ),
                hint,
                w.HBox([self.run_button, self.progress, self.progress_label]),
                self.status,
                self.verdict,
                self.chart,
            ],
            "vega-audit",
            values,
        )
        self.report: AuditReport | None = None

    # ---- actions ------------------------------------------------------------------------
    def config(self) -> AuditConfig:
        """The controls as a validated config (raises a `VegaError` naming the bad value)."""
        return AuditConfig.make(**{k: c.value for k, c in self.controls.items()}, **self.fixed)

    def _reset(self, config: AuditConfig) -> None:
        self.report = None
        self.verdict.value = ""
        self.progress.max, self.progress.value, self.progress.bar_style = config.trials, 0, ""
        self.progress_label.value = f"0/{config.trials} runs"
        self.run_button.disabled = True
        self._say(
            f"auditing claimed ε = {config.epsilon:g} ({config.threat}, {config.canary_kind} "
            f"canaries): {config.trials} run(s) × {config.canaries} canar"
            f"{'y' if config.canaries == 1 else 'ies'}, noise × {config.noise_scale:g} …"
        )

    # ---- the background thread ----------------------------------------------------------
    def _work(self, config: AuditConfig) -> None:
        try:
            report = run_audit(config, progress=self._on_progress)
            self._show(report)
        except Exception as exc:  # shown in the status label; the kernel keeps running
            self._fail(exc)
        else:
            self.report = report
            self.progress.value = self.progress.max
            self.progress.bar_style = "success"
            self._say(
                f"done in {report.seconds:.1f} s: {report.observations} observations, "
                f"{report.method} bound at {report.confidence:.0%} confidence, "
                f"attack AUC {report.attack.auc:.3f}",
                "success",
            )
        finally:
            self.run_button.disabled = False

    def _on_progress(self, done: int, total: int) -> None:
        self.progress.max, self.progress.value = total, done
        self.progress_label.value = f"{done}/{total} runs"

    def _show(self, report: AuditReport) -> None:
        """The verdict in large type, then the ROC and the bound-vs-claim charts as SVG."""
        bad = report.verdict == VIOLATION
        color = COLORS["danger"] if bad else COLORS["success"]
        relation = ">" if bad else "≤"
        self.verdict.value = (
            f'<div style="font-size:1.6em;font-weight:700;color:{color}">'
            f"{html.escape(report.verdict)}</div>"
            f'<div style="color:{color}">empirical ε ≥ {report.empirical_epsilon_lb:.3f} '
            f"{relation} claimed ε {report.claimed_epsilon:.3f} "
            f"({report.tightness:.0%} of the claim; {html.escape(report.method)}, "
            f"{report.confidence:.0%} confidence)</div>"
        )
        self._draw(report.roc_chart() | report.bound_chart(), f"<audit charts: {report.verdict}>")

    def _fail(self, exc: BaseException) -> None:
        """Show the error and clear the last verdict, so it is never read as this audit's."""
        self.report = None
        self.verdict.value, self.chart.outputs, self._spec = "", (), None
        super()._fail(exc)
