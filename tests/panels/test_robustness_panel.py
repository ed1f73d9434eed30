"""RobustnessPanel over a real results store: a clear message until a matrix is recorded, then
the heatmap; choosing a malicious fraction redraws it."""

from __future__ import annotations

from tests.federated.test_matrix_results import record_robustness_runs
from vega_lab.experiments.store import ResultsStore
from vega_lab.federated.matrix_results import SWEEP_COMMAND
from vega_lab.panels import RobustnessPanel


def test_empty_store_then_heatmap_then_fraction_redraws(store: ResultsStore) -> None:
    panel = RobustnessPanel(store)
    assert SWEEP_COMMAND in panel.status.value and store.url in panel.status.value
    assert panel.chart.value == "" and panel.chart_spec() is None
    assert [v for _, v in panel.fraction.options] == ["all"]

    record_robustness_runs(store)
    panel.refresh.click()
    assert [v for _, v in panel.fraction.options] == ["all", 0.0, 0.3]
    assert "<b>2</b> run(s)" in panel.status.value and "2 refused" in panel.status.value
    every = panel.chart.value
    assert "<svg" in every and ">refused<" in every and ">0.91<" in every
    assert panel.chart_spec()["facet"]["column"]["field"] == "fraction"

    panel.fraction.value = 0.3
    one = panel.chart.value
    assert one != every and ">refused<" in one and ">0.91<" not in one
    assert panel.chart_spec()["title"]["text"].endswith("30% malicious")

    panel.reload()  # the choice survives a refresh
    assert panel.fraction.value == 0.3 and panel.chart.value == one
