"""Data belongs to the project you are in: two clones sharing one environment (this venv, whose
editable install points at this checkout) run sweeps and chat at the same time, each from its
own folder, and each writes only into its own data/ and reports/."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, tiny_notebook

pytestmark = pytest.mark.slow

VEGA = str(Path(sys.executable).parent / "vega-lab")
PATH_VARS = ("VEGA_HOME", "VEGA_DATA_DIR", "VEGA_REPORTS_DIR", "VEGA_RESULTS_URL", "VEGA_RUN_ID")


def _make_clone(folder: Path) -> Path:
    """What a fresh clone holds that matters here: this project's pyproject.toml name, data/,
    and an experiment with its sweep spec."""
    (folder / "data").mkdir(parents=True)
    (folder / "experiments").mkdir()
    (folder / "pyproject.toml").write_text('[project]\nname = "vega-lab"\nversion = "0.1.0"\n')
    tiny_notebook(folder / "experiments" / "tiny.ipynb")
    (folder / "experiments" / "tiny.yaml").write_text(
        "notebook: tiny.ipynb\nworkers: 1\ngrid: {scale: [2.0]}\n"
    )
    return folder


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in PATH_VARS}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    return env


def _start(cwd: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [VEGA, *args], cwd=cwd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def _json(proc: subprocess.Popen[str], timeout: float = 300) -> dict:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-3000:]
    return json.loads(out)


def _files(folder: Path) -> set[str]:
    return {str(p) for p in folder.rglob("*") if p.is_file()}


def test_two_clones_keep_their_own_data(tmp_path: Path) -> None:
    clones = {name: _make_clone(tmp_path / name) for name in ("A", "B")}
    try:
        procs = {}
        for name, clone in clones.items():  # all four at once: two sweeps, two chats
            procs[name, "sweep"] = _start(clone / "experiments", "sweep", "tiny.yaml", "--json")
            procs[name, "chat"] = _start(
                clone, "chat", f"Say hello to clone {name}.", "--session", "notes",
                "--max-tokens", "8", "--json",
            )  # fmt: skip
        results = {key: _json(proc) for key, proc in procs.items()}
    finally:
        for clone in clones.values():  # each clone has its own embedded chat server
            subprocess.run([VEGA, "chat-server", "--stop"], cwd=clone, env=_env(), timeout=60)

    for name, clone in clones.items():
        other = clones["B" if name == "A" else "A"]
        sweep = results[name, "sweep"]
        assert sweep["finished"] == 1
        run_id = sweep["runs"][0]["run_id"]
        assert Path(sweep["runs"][0]["output_path"]).is_relative_to(clone / "reports")
        assert Path(sweep["report"]).is_relative_to(clone / "reports")
        assert (clone / "reports" / "runs" / run_id / "tiny.ipynb").is_file()
        assert not (other / "reports" / "runs" / run_id).exists()
        assert not (REPO / "reports" / "runs" / run_id).exists()  # nor the package's checkout
        # each clone's stores hold its own run, its own conversation, and nothing else
        info = _json(_start(clone / "experiments", "info", "--json"))
        assert info["project_root"] == str(clone)
        assert info["data_dir"] == str(clone / "data")
        assert info["reports_dir"] == str(clone / "reports")
        runs = _json(_start(clone, "runs", "--json"))
        assert [r["run_id"] for r in runs] == [run_id]
        history = _json(_start(clone, "history", "--session", "notes", "--json"))
        assert [m["role"] for m in history] == ["user", "assistant"]
        assert history[0]["content"] == f"Say hello to clone {name}."
        assert history[0]["session_id"] == results[name, "chat"]["session"]
        assert (clone / "data" / "results.sqlite").is_file()
        assert (clone / "data" / "conversations.sqlite").is_file()
        assert (clone / "data" / "chat").is_dir()  # the embedded server's state and log
        written = _files(clone)
        assert not any(str(other) in Path(f).read_text(errors="ignore") for f in written if
                       f.endswith((".json", ".ipynb", ".html")))  # fmt: skip
