"""AuditPanel wired to real audits: an honest DP-SGD passes, a planted bug is caught, bad values
land in the status label."""

from __future__ import annotations

from vega_lab.errors import AuditError, PrivacyError
from vega_lab.panels import AuditPanel
from vega_lab.privacy.audit import CONSISTENT, VIOLATION


def _chart_rows(spec: dict) -> list[dict]:
    return [row for rows in spec["datasets"].values() for row in rows]


def test_an_honest_audit_shows_progress_charts_and_a_consistent_verdict() -> None:
    panel = AuditPanel(epsilon=2.0, trials=1000, seed=0)
    seen: list[int] = []
    panel.progress.observe(lambda ch: seen.append(ch["new"]), "value")
    panel.run_button.click()  # the same path as a user's click; returns at once
    assert panel.running and panel.run_button.disabled
    assert panel.wait(timeout=300)

    assert panel.error is None, panel.status.value
    report = panel.report
    assert report is not None and report.verdict == CONSISTENT
    assert report.config.trials == 1000 and report.config.noise_scale == 1.0
    assert (panel.progress.value, panel.progress.max) == (1000, 1000) and seen[-1] == 1000
    assert panel.progress.bar_style == "success"
    assert CONSISTENT in panel.verdict.value and VIOLATION not in panel.verdict.value
    assert f"{report.claimed_epsilon:.3f}" in panel.verdict.value
    assert "#1b7f3b" in panel.verdict.value  # green
    assert "done in" in panel.status.value
    svg = panel.chart.outputs[0]["data"]["image/svg+xml"]
    assert svg.startswith("<svg") and "audit ROC" in svg and "bound vs claim" in svg
    rows = _chart_rows(panel.chart_spec())
    assert {"what": "claimed", "epsilon": report.claimed_epsilon} in rows
    assert any("fpr" in r and "tpr" in r for r in rows)
    assert not panel.run_button.disabled


def test_a_planted_bug_is_shown_as_a_dp_violation() -> None:
    panel = AuditPanel(epsilon=2.0, trials=500, noise_scale=0.1, seed=1)
    assert panel.noise_scale.value == 0.1
    panel.run(block=True)

    assert panel.error is None, panel.status.value
    assert panel.report is not None and panel.report.verdict == VIOLATION
    assert panel.report.empirical_epsilon_lb > panel.report.claimed_epsilon
    assert VIOLATION in panel.verdict.value and "#b00020" in panel.verdict.value  # red
    assert "DP VIOLATION: bound vs claim" in panel.chart.outputs[0]["data"]["image/svg+xml"]


def test_bad_values_show_in_the_status_label_without_raising() -> None:
    panel = AuditPanel(trials=10)
    panel.run(block=True)  # refused by the library inside the background thread
    assert panel.report is None and isinstance(panel.error, AuditError)
    assert "10 trials are too few" in panel.status.value and "use at least" in panel.status.value
    assert "Traceback" not in panel.status.value
    assert panel.progress.bar_style == "danger" and panel.chart.outputs == ()
    assert not panel.run_button.disabled and not panel.running

    panel.trials.value = 1000
    panel.verdict.value = "CONSISTENT"  # as if an earlier audit had passed
    panel.epsilon.value = 0.0
    panel.run_button.click()  # refused before any thread starts
    assert not panel.running and isinstance(panel.error, PrivacyError)
    assert "epsilon must be a finite number &gt; 0" in panel.status.value
    assert panel.verdict.value == ""  # a stale verdict is never shown beside new values
    assert not panel.run_button.disabled


def test_controls_are_settable_and_map_onto_the_config() -> None:
    panel = AuditPanel(threat="black-box", canaries=4, steps=20)  # steps: a fixed passthrough
    panel.epsilon.value = 8.0
    config = panel.config()
    assert (config.threat, config.canary_kind, config.canaries) == ("black-box", "input", 4)
    assert (config.epsilon, config.steps, config.noise_scale) == (8.0, 20, 1.0)
    assert [label for label, _ in panel.threat.options] == [
        "white-box (gradient canaries)",
        "black-box (input canaries)",
    ]
    assert panel.chart_spec() is None and panel.report is None
