"""Every notebook in notebooks/, experiments/ and widgets/ executes headless with small
parameters, through the same Papermill runner users get (so each is also recorded)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import REPO
from vega_lab.experiments import open_store, run_notebook

pytestmark = pytest.mark.slow

NOTEBOOKS = sorted(
    p
    for d in ("notebooks", "experiments", "widgets")
    for p in (REPO / d).rglob("*.ipynb")
    if ".ipynb_checkpoints" not in p.parts
)
# Small parameters per notebook; a notebook missing here runs with its defaults.
SMALL = {
    "centralized_baseline.ipynb": {"epochs": 2},
    "00_tour.ipynb": {"epochs": 1},
}


def test_there_are_notebooks_in_each_folder() -> None:
    assert {p.relative_to(REPO).parts[0] for p in NOTEBOOKS} == {
        "notebooks",
        "experiments",
        "widgets",
    }


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(REPO)))
def test_notebook_executes(path: Path, workspace: Path) -> None:
    res = run_notebook(path, SMALL.get(path.name, {}))
    assert res.status == "finished", open_store().get_run(res.run_id).error_traceback
    assert Path(res.output_path).is_file()
