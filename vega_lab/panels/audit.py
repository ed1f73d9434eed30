"""AuditPanel: audit a DP-SGD training's claimed epsilon in the background and show the verdict."""

from __future__ import annotations

import html
import threading
from typing import Any

import ipywidgets as w

from vega_lab.charts import to_svg
from vega_lab.errors import VegaError
from vega_lab.privacy.audit import VIOLATION, AuditConfig, AuditReport, run_audit

# The threat model decides the canary: label -> AuditConfig.threat.
THREATS = (
    ("white-box (gradient canaries)", "white-box"),
    ("black-box (input canaries)", "black-box"),
)
COLORS = {"info": "#555", "success": "#1b7f3b", "warning": "#a65e00", "danger": "#b00020"}


class AuditPanel(w.VBox):
    """Pick the claimed epsilon, the threat model (which canary) and the audit's size; Run
    trains the audited copies in a background thread (the kernel stays responsive) and shows
    the ROC of the attack, the lower bound(s) against the claim and the verdict.

    The "noise ×" control plants a bug: below 1 the training secretly adds only that fraction
    of the noise its claim needs, so an audit should catch it. Keyword arguments set the
    controls (``AuditPanel(epsilon=4, trials=1000)``); other `AuditConfig` fields given here
    (``steps=20``) are passed through as fixed.
    """

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
        self.controls: dict[str, w.ValueWidget] = {
            "epsilon": self.epsilon,
            "threat": self.threat,
            "trials": self.trials,
            "canaries": self.canaries,
            "noise_scale": self.noise_scale,
            "seed": self.seed,
        }
        self.fixed = {k: v for k, v in values.items() if k not in self.controls}
        for k, v in values.items():
            if k in self.controls:
                self.controls[k].value = v

        self.run_button = w.Button(description="Run audit", icon="play", button_style="primary")
        self.progress = w.IntProgress(value=0, min=0, max=1, description="Trained")
        self.progress_label = w.Label()
        self.status = w.HTML()
        self.verdict = w.HTML()
        self.chart = w.Output()
        for widget, cls in (
            (self.run_button, "vega-audit-run"),
            (self.progress, "vega-audit-progress"),
            (self.verdict, "vega-audit-verdict"),
            (self.chart, "vega-audit-chart"),
            (self.status, "vega-status"),
        ):
            widget.add_class(cls)
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
            ]
        )
        self.add_class("vega-audit-panel")

        self.report: AuditReport | None = None
        self.error: BaseException | None = None
        self._spec: dict[str, Any] | None = None
        self._thread: threading.Thread | None = None
        self.run_button.on_click(lambda _: self.run())

    # ---- actions ------------------------------------------------------------------------
    def config(self) -> AuditConfig:
        """The controls as a validated config (raises a `VegaError` naming the bad value)."""
        return AuditConfig.make(**{k: c.value for k, c in self.controls.items()}, **self.fixed)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def run(self, block: bool = False) -> None:
        """Validate the controls and audit in a background thread; ``block`` waits for it.
        Bad values end up in the status label, never as an exception."""
        if self.running:
            self._say("an audit is in progress: wait for it to end", "warning")
            return
        try:
            config = self.config()
        except VegaError as exc:
            self._fail(exc)
            return
        self.report, self.error, self._spec = None, None, None
        self.chart.outputs = ()
        self.verdict.value = ""
        self.progress.max, self.progress.value, self.progress.bar_style = config.trials, 0, ""
        self.progress_label.value = f"0/{config.trials} runs"
        self.run_button.disabled = True
        self._say(
            f"auditing claimed ε = {config.epsilon:g} ({config.threat}, {config.canary_kind} "
            f"canaries): {config.trials} run(s) × {config.canaries} canar"
            f"{'y' if config.canaries == 1 else 'ies'}, noise × {config.noise_scale:g} …"
        )
        self._thread = threading.Thread(
            target=self._work, args=(config,), name="vega-audit", daemon=True
        )
        self._thread.start()
        if block:
            self.wait()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the audit to end; True when it has."""
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.running

    def chart_spec(self) -> dict[str, Any] | None:
        """The Vega-Lite spec of the charts last drawn (None before an audit ends)."""
        return self._spec

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
        chart = report.roc_chart() | report.bound_chart()
        self._spec = chart.to_dict()
        svg = to_svg(chart)
        self.chart.outputs = (
            {
                "output_type": "display_data",
                "data": {"image/svg+xml": svg, "text/plain": f"<audit charts: {report.verdict}>"},
                "metadata": {},
            },
        )

    def _fail(self, exc: BaseException) -> None:
        """Show the error and clear the last verdict, so it is never read as this audit's."""
        self.error, self.report = exc, None
        self.verdict.value, self.chart.outputs, self._spec = "", (), None
        self.progress.bar_style = "danger"
        text = str(exc) if isinstance(exc, VegaError) else f"{type(exc).__name__}: {exc}"
        self._say(text, "danger")

    def _say(self, text: str, style: str = "info") -> None:
        self.status.value = f'<span style="color:{COLORS[style]}">{html.escape(text)}</span>'
