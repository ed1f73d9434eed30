"""ExperimentsPanel wired to a real store: sweep choice, runs table, metric choice redraws."""

from __future__ import annotations

from pathlib import Path

from tests.test_dashboard_browser import _record_sweep
from vega_lab.experiments import open_store
from vega_lab.panels import ExperimentsPanel


def test_panel_shows_sweeps_runs_and_redraws_on_metric_choice(workspace: Path) -> None:
    _record_sweep()
    panel = ExperimentsPanel(open_store())
    assert panel.sweep.value == "demo_sweep"
    assert "r-demo-0" in panel.table.value and "r-demo-1" in panel.table.value
    assert panel.metric.options == ("test_accuracy", "train_loss")
    first = panel.chart.value
    assert first.startswith("<svg") and "test_accuracy" in first and "lr=0.5" in first
    panel.metric.value = "train_loss"
    assert panel.chart.value != first and "train_loss" in panel.chart.value
    panel.sweep.value = "(runs outside sweeps)"
    assert panel.metric.options == () and "no step metrics" in panel.chart.value
    panel.reload(select="demo_sweep")
    assert panel.sweep.value == "demo_sweep" and panel.metric.value == "train_loss"


def test_panel_on_an_empty_store(workspace: Path) -> None:
    panel = ExperimentsPanel(open_store())
    assert panel.sweep.options == ("(runs outside sweeps)",)
    assert "0</b> runs" in panel.status.value
