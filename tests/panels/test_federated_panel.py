"""FederatedPanel wired to real simulations: live progress and chart, Stop mid-run, bad values."""

from __future__ import annotations

import time

from vega_lab.errors import FederatedError
from vega_lab.federated import RoundRecord
from vega_lab.panels import FederatedPanel

SMALL = {"dataset": "digits", "num_clients": 4, "local_epochs": 1, "seed": 0}


def _chart_rows(spec: dict) -> list[dict]:
    return [row for rows in spec["datasets"].values() for row in rows]


def test_a_run_updates_history_progress_and_chart() -> None:
    panel = FederatedPanel(**SMALL, rounds=3)
    drawn: list[int] = []
    panel.chart.observe(lambda ch: ch["new"] and drawn.append(len(panel.history)), "outputs")
    panel.run(block=True)

    assert panel.error is None, panel.status.value
    assert [r.round for r in panel.history] == [0, 1, 2]
    assert all(isinstance(r, RoundRecord) for r in panel.history)
    assert panel.result is not None and panel.result.stop_reason == "completed"
    assert panel.result.history == panel.history
    assert (panel.progress.value, panel.progress.max) == (3, 3)
    assert panel.progress.bar_style == "success"
    assert "completed after 3 round(s)" in panel.status.value
    assert drawn == [1, 2, 3]  # re-rendered after every round
    rows = _chart_rows(panel.chart_spec())
    assert sorted({r["step"] for r in rows}) == [0, 1, 2]
    assert {r["name"] for r in rows} == {"accuracy", "loss"}
    accuracy = {r["step"]: r["value"] for r in rows if r["name"] == "accuracy"}
    assert accuracy[2] == panel.history[2].accuracy
    svg = panel.chart.outputs[0]["data"]["image/svg+xml"]
    assert svg.startswith("<svg") and "accuracy" in svg
    assert not panel.run_button.disabled and panel.stop_button.disabled


def test_stop_mid_run_ends_early_with_the_reason() -> None:
    panel = FederatedPanel(**SMALL, rounds=200)
    panel.run_button.click()  # the same path as a user's click; returns at once
    assert panel.running and not panel.stop_button.disabled
    deadline = time.monotonic() + 60
    while not panel.history and time.monotonic() < deadline:
        time.sleep(0.05)
    assert panel.history, "no round arrived"
    panel.stop_button.click()
    assert panel.wait(timeout=60)

    assert panel.result is not None and panel.result.stop_reason == "stopped"
    assert 1 <= len(panel.history) < 200
    assert panel.progress.value == len(panel.history) and panel.progress.max == 200
    assert panel.progress.bar_style == "warning"
    assert f"stopped after {len(panel.history)} round(s)" in panel.status.value
    assert not panel.run_button.disabled and panel.stop_button.disabled


def test_bad_values_show_in_the_status_label_without_raising() -> None:
    panel = FederatedPanel(**SMALL, rounds=2, partition="dirichlet")
    panel.alpha.value = 0.0
    panel.run()  # does not raise
    assert not panel.running and panel.result is None and panel.history == []
    assert isinstance(panel.error, FederatedError)
    assert "alpha must be &gt; 0" in panel.status.value
    assert "Traceback" not in panel.status.value
    assert panel.progress.bar_style == "danger"

    panel.alpha.value = 0.5
    panel.fraction.value = 0.0
    panel.run_button.click()
    assert "fraction must be in (0, 1]" in panel.status.value and panel.result is None


def test_controls_are_settable_and_map_onto_the_config() -> None:
    panel = FederatedPanel(strategy="scaffold", partition="shards", labels_per_client=3, lr=0.05)
    panel.num_clients.value = 6
    config = panel.config()
    assert (config.strategy, config.partition, config.labels_per_client) == (
        "scaffold",
        "shards",
        3,
    )
    assert (config.num_clients, config.lr) == (6, 0.05)
    assert {"vectorized", "sequential"} <= set(panel.engine.options)
    assert panel.chart_spec() is None
