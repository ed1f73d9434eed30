"""The `vega-lab` command as a user runs it: a real subprocess of the installed console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, tiny_notebook

VEGA = str(Path(sys.executable).parent / "vega-lab")
COMMANDS = [
    "run",
    "sweep",
    "runs",
    "report",
    "lab",
    "dashboards",
    "info",
    "bench",
    "bench sweep",
    "bench federated",
    "bench dp-overhead",
    "bench shadow-models",
    "bench audit",
    "bench chat",
    "bench multimodal",
    "bench secagg",
    "bench robustness",
    "media",
    "media index",
    "media search",
    "media scrub",
    "media transcribe",
    "media summarize",
    "media diff",
    "media dupes",
    "chat",
    "history",
    "chat-server",
    "privacy",
    "privacy epsilon",
    "privacy noise",
    "privacy audit",
]


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [VEGA, *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd or REPO,
        env=os.environ.copy(),
    )


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_every_command_has_help(command: str | None) -> None:
    res = cli(*(command.split() if command else []), "--help")
    assert res.returncode == 0, res.stderr
    assert "Usage" in res.stdout


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["run", "missing.ipynb"], "notebook 'missing.ipynb' does not exist"),
        (
            ["run", "experiments/centralized_baseline.ipynb", "-p", "lrr", "1"],
            "does not declare parameter(s) lrr",
        ),
        (["run", "experiments/centralized_baseline.ipynb", "-p", "lr"], "needs a NAME and a VALUE"),
        (["run", "experiments/centralized_baseline.ipynb", "stray"], "unexpected argument 'stray'"),
        (["sweep", "missing.yaml"], "sweep spec 'missing.yaml' does not exist"),
        (["report", "r-nope"], "no run or sweep named 'r-nope'"),
        (["runs", "--status", "weird"], "unknown status 'weird'"),
    ],
)
def test_bad_input_is_one_line_and_nonzero(workspace: Path, args: list[str], match: str) -> None:
    res = cli(*args)
    assert res.returncode != 0
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    assert match in lines[0]


def test_run_then_list_then_report(workspace: Path) -> None:
    nb = tiny_notebook(workspace / "tiny.ipynb")
    res = cli("run", str(nb), "-p", "scale", "3", "-p", "label", "hello", "--seed", "2", "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)  # --json: the whole stdout is one document
    assert out["status"] == "finished" and Path(out["report"]).is_file()

    listed = cli("runs", "--json")
    rows = json.loads(listed.stdout)
    assert [r["run_id"] for r in rows] == [out["run_id"]]
    assert rows[0]["p.scale"] == 3 and rows[0]["p.label"] == "hello" and rows[0]["seed"] == 2
    assert rows[0]["m.total"] == pytest.approx(3 * 6 + 2 * 3)

    rep = cli("report", out["run_id"], "--json")
    assert json.loads(rep.stdout)["report"] == out["report"]
    table = cli("runs")
    assert out["run_id"] in table.stdout


def test_failed_run_exits_nonzero(workspace: Path) -> None:
    nb = tiny_notebook(workspace / "bad.ipynb", fail=True)
    res = cli("run", str(nb), "--no-report")
    assert res.returncode == 1
    assert "failed" in res.stdout and "planned failure" in res.stdout


@pytest.mark.slow
def test_lab_command_prints_a_working_url_and_stops_on_ctrl_c(workspace: Path) -> None:
    """`make lab`'s main job: a token URL on 127.0.0.1 that answers, opened on the tour."""
    import re
    import signal
    import time

    import httpx

    proc = subprocess.Popen(
        [VEGA, "lab", "--port", "0"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=os.environ.copy(),
    )
    try:
        url = None
        deadline = time.monotonic() + 180
        assert proc.stdout is not None
        while url is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            m = re.search(r"(http://127\.0\.0\.1:\d+/\S+)", line)
            url = m.group(1) if m else None
        assert url, "no URL printed"
        assert "/lab/tree/notebooks/00_tour.ipynb?token=" in url
        base, token = url.split("/lab/")[0], url.split("token=")[1]
        ok = httpx.get(f"{base}/api/status", params={"token": token}, timeout=30)
        assert ok.status_code == 200
        assert httpx.get(f"{base}/api/status", timeout=30).status_code == 403
        page = httpx.get(url, timeout=60)
        assert page.status_code == 200 and "JupyterLab" in page.text
    finally:
        import threading

        rest: list[str] = []  # keep reading, so a full pipe can never block the shutdown
        threading.Thread(target=lambda: rest.extend(proc.stdout or []), daemon=True).start()
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(90)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail(f"vega-lab lab did not stop on Ctrl-C; its output: {''.join(rest)[-3000:]}")
    assert proc.returncode == 0


def test_bench_federated_prints_a_table_and_a_json_result(workspace: Path) -> None:
    """Shape only (no Flower, no timing asserted): the figures a user reads are all there, the
    table on stderr and the JSON alone on stdout."""
    res = cli(
        "bench", "federated", "--clients", "3", "--rounds", "1", "--repeats", "1", "--no-flower"
    )
    assert res.returncode == 0, res.stderr
    assert "vega_lab vectorized" in res.stderr
    out = json.loads(res.stdout)
    assert out["clients"] == 3 and out["vega_s"] > 0 and 0 < out["vega_acc"] <= 1
    assert out["compute_fraction"] == pytest.approx(out["centralized_s"] / out["vega_s"])
    assert out["examples_processed"] == 1 * 5 * 1438
