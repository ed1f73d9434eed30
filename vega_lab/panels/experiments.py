"""ExperimentsPanel: pick a sweep, see its runs and the curves of a chosen metric."""

from __future__ import annotations

import html

import ipywidgets as w
import pandas as pd

from vega_lab.charts import metric_curves, to_svg
from vega_lab.experiments.store import ResultsStore, open_store

_ALL = "(runs outside sweeps)"


class ExperimentsPanel(w.VBox):
    """A dashboard over the results store (used by ``widgets/experiments.ipynb`` in Voila)."""

    def __init__(self, store: ResultsStore | None = None, sweep: str | None = None) -> None:
        self.store = store or open_store()
        self.sweep = w.Dropdown(description="Sweep", layout=w.Layout(width="380px"))
        self.metric = w.Dropdown(description="Metric", layout=w.Layout(width="380px"))
        self.refresh = w.Button(description="Refresh", icon="refresh")
        self.status = w.HTML()
        self.table = w.HTML()
        self.chart = w.HTML()
        for widget, cls in (
            (self.sweep, "vega-sweep-select"),
            (self.metric, "vega-metric-select"),
            (self.table, "vega-runs-table"),
            (self.chart, "vega-metric-chart"),
            (self.status, "vega-status"),
        ):
            widget.add_class(cls)
        super().__init__(
            [w.HBox([self.sweep, self.metric, self.refresh]), self.status, self.table, self.chart]
        )
        self.add_class("vega-experiments-panel")
        self._frames: tuple[pd.DataFrame, pd.DataFrame] | None = None
        self._quiet = False
        self._preferred: str | None = None  # the user's metric choice survives sweep changes
        self.sweep.observe(lambda _: self._quiet or self._load_sweep(), names="value")
        self.metric.observe(self._on_metric, names="value")
        self.refresh.on_click(lambda _: self.reload())
        self.reload(select=sweep)

    def reload(self, select: str | None = None) -> None:
        """Re-read the sweeps list (keeps the current choice when it still exists)."""
        ids = [s.id for s in self.store.sweeps()]
        current = select or self.sweep.value
        self._quiet = True
        try:
            self.sweep.options = [*ids, _ALL]
            self.sweep.value = current if current in self.sweep.options else self.sweep.options[0]
        finally:
            self._quiet = False
        self._load_sweep()

    def _load_sweep(self) -> None:
        sweep_id = None if self.sweep.value in (None, _ALL) else self.sweep.value
        runs = self.store.runs_frame(sweep_id=sweep_id)
        if sweep_id is None and not runs.empty:
            runs = runs[runs["sweep_id"].isna()]
        metrics = self.store.metrics_frame(run_ids=list(runs["run_id"]), kind="step")
        self._frames = (runs, metrics)
        counts = runs["status"].value_counts().to_dict() if not runs.empty else {}
        self.status.value = f"<b>{len(runs)}</b> runs · " + " · ".join(
            f"{v} {html.escape(str(k))}" for k, v in counts.items()
        )
        shown = runs.drop(columns=[c for c in ("sweep_id", "created_at") if c in runs])
        shown = shown.round(4).astype(object).where(shown.notna(), "")
        self.table.value = shown.to_html(index=False, na_rep="", float_format=lambda v: f"{v:.4g}")
        names = sorted(metrics["name"].unique()) if not metrics.empty else []
        keep = self._preferred if self._preferred in names else None
        self._quiet = True  # one redraw below, not one per trait change
        try:
            self.metric.options = names
            self.metric.value = keep or (names[0] if names else None)
        finally:
            self._quiet = False
        self._draw_chart()

    def _on_metric(self, change: dict) -> None:
        if not self._quiet:
            self._preferred = change["new"]
            self._draw_chart()

    def _draw_chart(self) -> None:
        if self._quiet:
            return
        if self._frames is None or not self.metric.value:
            self.chart.value = "<i>no step metrics recorded yet</i>"
            return
        runs, metrics = self._frames
        params = [c for c in runs.columns if c.startswith("p.") and runs[c].nunique() > 1]
        labels = {
            r["run_id"]: ", ".join(f"{c[2:]}={r[c]}" for c in params) or r["run_id"]
            for _, r in runs.iterrows()
        }
        data = metrics.assign(config=metrics["run_id"].map(labels))
        self.chart.value = to_svg(metric_curves(data, self.metric.value, color="config"))

    @property
    def chart_metric(self) -> str | None:
        return self.metric.value
