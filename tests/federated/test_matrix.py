"""The robustness matrix behind `vega-lab bench robustness` and the robustness notebook: cells,
shared clean runs, recorded refusals; and the bench command as a user runs it (no timing
asserted)."""

from __future__ import annotations

import json
import math
from pathlib import Path

from tests.test_cli import cli
from vega_lab.federated.matrix import defence_options, robustness_matrix


def test_matrix_cells_share_the_clean_run_and_record_refusals() -> None:
    seen = []
    frame = robustness_matrix(
        ["fedavg", "bulyan"], ["sign_flip", "backdoor"], [0.0, 0.3],
        num_clients=10, rounds=2, on_cell=seen.append,
    )  # fmt: skip
    assert len(frame) == len(seen) == 8
    clean = frame[frame["malicious_fraction"] == 0]
    assert clean["shared"].all() and (clean["malicious"] == 0).all()
    for _, group in clean.groupby("aggregator"):
        assert group["accuracy"].nunique() == 1  # one run fills the column
    # Bulyan cannot tolerate 3 of 10 (it needs n >= 4f + 3 = 15): refused, with the reason
    refused = frame[(frame["aggregator"] == "bulyan") & (frame["malicious_fraction"] == 0.3)]
    assert (refused["status"] == "refused").all()
    assert refused["error"].str.contains("n >= 4f").all() and refused["accuracy"].isna().all()
    attacked = frame.set_index(["aggregator", "attack", "malicious_fraction"])
    assert attacked.loc[("fedavg", "sign_flip", 0.3), "accuracy"] < 0.3
    assert attacked.loc[("fedavg", "sign_flip", 0.3), "flag_recall"] > 0.5
    assert not math.isnan(attacked.loc[("fedavg", "backdoor", 0.3), "backdoor_success"])
    assert math.isnan(attacked.loc[("fedavg", "sign_flip", 0.3), "backdoor_success"])
    assert defence_options("krum", 3) == {"f": 3.0} and defence_options("median", 3) == {}


def test_bench_robustness_quick_prints_a_table_and_json(workspace: Path, tmp_path: Path) -> None:
    report = tmp_path / "matrix.md"
    res = cli("bench", "robustness", "--quick", "--report", str(report))
    assert res.returncode == 0, res.stderr
    assert "malicious fraction 20%" in res.stderr and "matrix time" in res.stderr
    out = json.loads(res.stdout)
    assert out["quick"] and out["cells"] == 3 * 2 * 2 and out["runs"] == 3 + 3 * 2
    assert {r["status"] for r in out["results"]} == {"ok"}
    assert all(0 <= r["accuracy"] <= 1 for r in out["results"])
    assert "| fedavg |" in report.read_text()
