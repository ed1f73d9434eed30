"""RobustnessPanel: the robustness matrix recorded in the results store as a heatmap of final
accuracy (aggregator x attack), every malicious fraction side by side or one at a time."""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w
import pandas as pd

from vega_lab.charts import to_svg
from vega_lab.experiments.store import ResultsStore, open_store
from vega_lab.federated.matrix_results import (
    SWEEP_COMMAND,
    fractions,
    robustness_heatmap,
    robustness_results,
    summarize,
)
from vega_lab.panels.base import status_html

ALL = "all"


class RobustnessPanel(w.VBox):
    """Reads what experiments/robustness_matrix.ipynb recorded (`robustness_results`: the
    newest workload, its seeds averaged); choosing a fraction redraws, Refresh re-reads."""

    def __init__(self, store: ResultsStore | None = None, sweep: str | None = None) -> None:
        self.store = store or open_store()
        self.sweep = sweep
        self.fraction = w.Dropdown(
            options=[("all fractions", ALL)], value=ALL, description="Malicious"
        )
        self.refresh = w.Button(description="Refresh", icon="refresh")
        self.status = w.HTML()
        self.chart = w.HTML()
        for widget, cls in (
            (self.fraction, "vega-robustness-fraction"),
            (self.status, "vega-robustness-status"),
            (self.chart, "vega-robustness-chart"),
        ):
            widget.add_class(cls)
        super().__init__([w.HBox([self.fraction, self.refresh]), self.status, self.chart])
        self.add_class("vega-robustness-panel")
        self.frame = pd.DataFrame()  # `reload` reads it
        self._spec: dict[str, Any] | None = None
        self._quiet = False
        self.fraction.observe(lambda _: self._quiet or self._draw(), names="value")
        self.refresh.on_click(lambda _: self.reload())
        self.reload()

    def reload(self) -> None:
        """Re-read the store; keeps the chosen fraction when it is still recorded."""
        self.frame = robustness_results(self.store, sweep_id=self.sweep)
        keep = self.fraction.value
        options: list[tuple[str, Any]] = [("all fractions", ALL)]
        if not self.frame.empty:
            options += [(f"{f:.0%}", f) for f in fractions(self.frame)]
        self._quiet = True  # one redraw below, not one per trait change
        try:
            self.fraction.options = options
            self.fraction.value = keep if keep in [v for _, v in options] else ALL
        finally:
            self._quiet = False
        self._draw()

    def chart_spec(self) -> dict[str, Any] | None:
        """The Vega-Lite spec of the heatmap drawn (None when nothing is recorded)."""
        return self._spec

    def _draw(self) -> None:
        if self.frame.empty:
            self._spec = None
            self.chart.value = ""
            self.status.value = status_html(
                f"No robustness matrix is recorded in {self.store.url} yet. Record one with "
                f"`{SWEEP_COMMAND}`, then Refresh.",
                "warning",
            )
            return
        fraction = None if self.fraction.value == ALL else float(self.fraction.value)
        chart = robustness_heatmap(self.frame, fraction)
        self._spec = chart.to_dict()
        # room for text that spills past the SVG's box (to_svg lets it overflow)
        self.chart.value = f'<div style="padding:0 60px 16px 0">{to_svg(self._spec)}</div>'
        runs, cells = self.frame["run_id"].nunique(), summarize(self.frame)
        refused = int((cells["runs"] == 0).sum())
        self.status.value = (
            f"<b>{runs}</b> run(s) of the robustness matrix · {len(cells)} cells"
            f" · {refused} refused (guarantee void) · workload: "
            + html.escape(str(self.frame["workload"].iat[0]))
        )
