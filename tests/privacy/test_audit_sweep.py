"""The dp_audit sweep specs load, every run they expand to is a parameter set
experiments/dp_audit.ipynb declares and a valid AuditConfig, and `sweep_chart` turns a sweep's
recorded finals into the claimed vs empirical epsilon chart."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from tests.conftest import REPO
from vega_lab.errors import AuditError
from vega_lab.experiments.parameters import check_parameters, declared_parameters
from vega_lab.experiments.spec import load_spec
from vega_lab.experiments.store import RunRow
from vega_lab.privacy.audit import CONSISTENT, VIOLATION, AuditConfig
from vega_lab.privacy.audit.report import sweep_chart

SWEEPS = REPO / "experiments" / "sweeps"
NOTEBOOK = (REPO / "experiments" / "dp_audit.ipynb").resolve()


def _config(params: dict, seed: int, defaults: dict) -> AuditConfig:
    """The notebook's own mapping: every parameter is an AuditConfig field (hidden a tuple)."""
    values = {**defaults, **params, "seed": seed}
    return AuditConfig.make(**{**values, "hidden": tuple(values["hidden"])})


def test_the_notebook_declares_exactly_the_audit_config_fields() -> None:
    assert set(declared_parameters(NOTEBOOK)) == set(AuditConfig.model_fields)


@pytest.mark.parametrize(
    ("spec_name", "noise_scales", "runs"),
    [("dp_audit", [1.0], 4 * 2), ("dp_audit_planted_bug", [1.0, 0.5, 0.1], 4 * 3)],
)
def test_sweep_is_an_epsilon_grid_of_valid_white_box_audits(
    spec_name: str, noise_scales: list[float], runs: int
) -> None:
    spec, notebook = load_spec(SWEEPS / f"{spec_name}.yaml")
    assert spec.name == spec_name and notebook == NOTEBOOK
    assert spec.grid["epsilon"] == [1.0, 2.0, 4.0, 8.0]
    declared = declared_parameters(notebook)
    defaults = {name: d.default for name, d in declared.items()}
    expanded = spec.expand()
    assert len(expanded) == runs
    configs = []
    for params, seed in expanded:
        check_parameters(notebook, {**params, "seed": seed}, declared)
        configs.append(_config(params, seed, defaults))
    assert {c.threat for c in configs} == {"white-box"}
    assert {c.canary_kind for c in configs} == {"gradient"}
    assert sorted({c.noise_scale for c in configs}, reverse=True) == noise_scales
    assert all(c.trials >= 2000 and c.method == "multi-run (gdp)" for c in configs)


def _chart_rows(chart) -> list[dict]:
    spec = chart.to_dict()
    return [row for rows in spec["datasets"].values() for row in rows if "verdict" in row]


def test_sweep_chart_from_a_recorded_sweep(store) -> None:
    """What the notebook's last cell does: runs_frame of the sweep, unfinished runs skipped."""
    store.upsert_sweep("audit_demo", "experiments/dp_audit.ipynb", {"grid": {"epsilon": [1, 4]}})
    finals = {  # (epsilon, noise_scale) -> (claimed, lower bound); None: still running
        (1.0, 1.0): (0.999, 0.4),
        (4.0, 1.0): (3.998, 2.1),
        (1.0, 0.1): (0.999, 9.5),
        (4.0, 0.1): None,
    }
    rows = [
        RunRow(
            id=f"r-audit-{i}",
            sweep_id="audit_demo",
            key=f"k{i}",
            notebook="experiments/dp_audit.ipynb",
            parameters={"epsilon": eps, "noise_scale": ns},
            seed=0,
            status="running" if finals[(eps, ns)] is None else "finished",
        )
        for i, (eps, ns) in enumerate(finals)
    ]
    store.add_runs(rows)
    for row, value in zip(rows, finals.values(), strict=True):
        if value is not None:
            claimed, lb = value
            store.log_metrics(
                row.id,
                {"claimed_epsilon": claimed, "empirical_epsilon_lb": lb},
                step=None,
                kind="final",
            )

    chart = sweep_chart(store.runs_frame(sweep_id="audit_demo"), by="noise_scale")
    points = {
        (r["noise_scale"], r["claimed_epsilon"]): (r["empirical_epsilon_lb"], r["verdict"])
        for r in _chart_rows(chart)
    }
    assert points == {
        ("1.0", 0.999): (0.4, CONSISTENT),
        ("1.0", 3.998): (2.1, CONSISTENT),
        ("0.1", 0.999): (9.5, VIOLATION),
    }
    assert "claimed vs empirical epsilon" in chart.to_dict()["title"]


def test_sweep_chart_takes_report_dicts_and_says_what_is_missing() -> None:
    rows = [
        {"claimed_epsilon": 2.0, "empirical_epsilon_lb": 1.2, "noise_scale": 1.0},
        {"claimed_epsilon": 2.0, "empirical_epsilon_lb": math.nan, "noise_scale": 0.5},
    ]
    assert [r["verdict"] for r in _chart_rows(sweep_chart(rows))] == [CONSISTENT]
    with pytest.raises(AuditError, match="needs the column"):
        sweep_chart(pd.DataFrame({"claimed_epsilon": [1.0]}))
    with pytest.raises(AuditError, match="no finished audit runs"):
        sweep_chart(rows[1:])
