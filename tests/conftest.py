"""Shared fixtures: every test writes to its own data/reports folders and results store."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point settings (and every kernel started from this process) at a fresh tmp folder."""
    from vega_lab.config import get_settings
    from vega_lab.experiments import tracking

    monkeypatch.setattr(tracking, "_CURRENT", None)  # no interactive run leaks between tests
    data, reports = tmp_path / "data", tmp_path / "reports"
    monkeypatch.setenv("VEGA_DATA_DIR", str(data))
    monkeypatch.setenv("VEGA_REPORTS_DIR", str(reports))
    monkeypatch.setenv("VEGA_RESULTS_URL", str(data / "results.sqlite"))
    monkeypatch.delenv("VEGA_RUN_ID", raising=False)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


@pytest.fixture
def store(workspace: Path):
    from vega_lab.experiments import open_store

    return open_store()


def tiny_notebook(
    path: Path, *, fail: bool = False, extra_params: str = "", extra_cell: str = ""
) -> Path:
    """A fast notebook (no torch) that records metrics; used where the baseline would be slow.
    ``extra_cell`` is appended as one more code cell (``run`` is defined there)."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    params = new_code_cell(f"scale = 1.0\nsteps = 3\nlabel = 'x'\nseed = 0\n{extra_params}")
    params.metadata["tags"] = ["parameters"]
    body = new_code_cell(
        "from vega_lab import experiments\n"
        "run = experiments.current_run()\n"
        "for step in range(steps):\n"
        "    run.log(step=step, value=scale * (step + 1) + seed)\n"
        + ("raise RuntimeError('planned failure for the test')\n" if fail else "")
        + "run.log_final(total=scale * steps * (steps + 1) / 2 + seed * steps)\n"
    )
    nb = new_notebook(cells=[params, body, *([new_code_cell(extra_cell)] if extra_cell else [])])
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)
    return path
