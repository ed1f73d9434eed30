"""FederatedPanel wired to real simulations: live progress and chart, Stop mid-run, bad values,
attacks against robust aggregators with anomaly flags, a void guarantee in the status line."""

from __future__ import annotations

import time

from vega_lab.errors import FederatedError
from vega_lab.federated import STRATEGIES, RoundRecord
from vega_lab.federated.attacks import ATTACKS
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


def test_attack_fraction_and_aggregator_run_and_flags_appear() -> None:
    panel = FederatedPanel(**{**SMALL, "num_clients": 6}, rounds=2)
    panel.strategy.value = "trimmed_mean"
    panel.attack.value = "sign_flip"
    panel.malicious_fraction.value = 0.3  # round(1.8) = 2 of 6 clients
    config = panel.config()
    assert (config.attack, config.malicious_fraction) == ("sign_flip", 0.3)
    assert config.strategy_options == {"f": 2.0}  # the defender is told f, as in the matrix
    said: list[str] = []
    panel.status.observe(lambda ch: said.append(ch["new"]), "value")
    panel.run(block=True)

    assert panel.error is None, panel.status.value
    assert "running trimmed_mean" in said[0] and "attack sign_flip by 30% of clients" in said[0]
    assert "completed after 2 round(s)" in panel.status.value
    result = panel.result
    assert result is not None and result.config.strategy == "trimmed_mean"
    assert len(result.audit.malicious) == 2
    flagged = sum(r.flagged for r in result.history)
    assert flagged > 0  # sign flipping x4 stands out by norm and cosine
    table = panel.flags.value
    assert table.count("<tr>") == 1 + 2  # header + one row per round
    caught = sum(len(set(e.flagged) & set(e.malicious)) for e in result.audit.entries)
    assert f"flagged {flagged} update(s) in 2 round(s); {caught} of 4 malicious" in table
    entry = result.audit.entries[-1]
    assert f"<td>{', '.join(map(str, entry.flagged))}</td>" in table


def test_a_void_guarantee_shows_its_error_in_the_status_line() -> None:
    panel = FederatedPanel(**SMALL, rounds=2, strategy="krum", attack="sign_flip")
    panel.malicious_fraction.value = 0.25  # f = 1 of n = 4: Krum needs n > 2f + 2
    panel.run(block=True)
    assert isinstance(panel.error, FederatedError) and panel.result is None
    assert "krum cannot tolerate f=1 Byzantine clients among n=4" in panel.status.value
    assert "n &gt; 2f + 2" in panel.status.value and "Traceback" not in panel.status.value
    assert panel.progress.bar_style == "danger"
    assert not panel.run_button.disabled and panel.stop_button.disabled

    panel.attack.value = "none"  # malicious clients without an attack
    panel.run(block=True)
    assert "malicious_fraction=0.25 but no attack" in panel.status.value
    assert isinstance(panel.error, FederatedError)


def test_robustness_controls() -> None:
    panel = FederatedPanel(strategy="krum", strategy_options={"f": 0.0}, malicious_fraction=0.2)
    labels = dict(panel.strategy.options)
    assert labels["robust: krum"] == "krum" and labels["private: dp_fedavg"] == "dp_fedavg"
    assert labels["fedavg"] == "fedavg" and set(labels.values()) == set(STRATEGIES)
    groups = [label.split(":")[0] if ":" in label else "" for label in labels]
    assert groups == sorted(groups, key=["", "robust", "private"].index)  # grouped in order
    assert panel.attack.options[0] == "none" and set(panel.attack.options) == set(ATTACKS)
    assert (panel.malicious_fraction.min, panel.malicious_fraction.max) == (0.0, 0.4)
    panel.attack.value = "alie"
    config = panel.config()
    assert config.strategy_options == {"f": 0.0}  # options given to the panel win
    assert (config.attack, config.malicious_fraction) == ("alie", 0.2)
