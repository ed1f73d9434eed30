"""`vega-lab bench dp-overhead` as a user runs it: shape only, no timing asserted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_cli import cli


def test_bench_dp_overhead_prints_a_table_and_a_json_last_line(workspace: Path) -> None:
    res = cli("bench", "dp-overhead", "--repeats", "1", "--mode", "hooks", "--mode", "ghost")
    assert res.returncode == 0, res.stderr
    assert "non-private SGD" in res.stderr and "DP-SGD ghost" in res.stderr  # the table
    out = json.loads(res.stdout)  # the JSON result, alone
    assert out["modes"] == ["hooks", "ghost"] and set(out["ratios"]) == {"digits"}
    digits = out["results"][0]
    for name in ("non-private", "hooks", "ghost"):
        v = digits["variants"][name]
        assert v["epoch_s"] > 0 and len(v["all_s"]) == 1 and 0 < v["accuracy"] <= 1
        assert v["ratio"] == pytest.approx(
            v["epoch_s"] / digits["variants"]["non-private"]["epoch_s"]
        )
    assert digits["epsilon_after_epoch"] > 0


def test_bench_dp_overhead_refuses_an_unknown_mode(workspace: Path) -> None:
    res = cli("bench", "dp-overhead", "--repeats", "1", "--mode", "turbo")
    assert res.returncode == 2
    assert "unknown grad-sample mode 'turbo'" in res.stderr
