from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import REPO, tiny_notebook
from vega_lab.errors import NotebookParameterError, SweepSpecError, UnknownNameError
from vega_lab.experiments import load_spec, open_store, run_sweep


def _spec(tmp: Path, body: str) -> Path:
    tiny_notebook(tmp / "tiny.ipynb")
    p = tmp / "s.yaml"
    p.write_text(body)
    return p


def test_shipped_spec_expands_grid_times_seeds() -> None:
    spec, nb = load_spec(REPO / "experiments" / "sweeps" / "baseline_lr.yaml")
    assert nb == REPO / "experiments" / "centralized_baseline.ipynb"
    runs = spec.expand()
    assert len(runs) == 8
    assert runs[0] == ({"dataset": "digits", "epochs": 10, "batch_size": 32, "lr": 0.01}, 0)
    assert runs[1][1] == 1 and sorted({r[0]["lr"] for r in runs}) == [0.01, 0.05, 0.1, 0.3]


def test_name_defaults_to_file_stem_and_seeds_list(tmp_path: Path) -> None:
    p = _spec(
        tmp_path, "notebook: tiny.ipynb\ngrid: {scale: [1.0, 2.0], steps: [1, 2]}\nseeds: [5, 9]\n"
    )
    spec, _ = load_spec(p)
    assert spec.name == "s"
    assert len(spec.expand()) == 8 and {s for _, s in spec.expand()} == {5, 9}


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ("notebook: tiny.ipynb\ngird: {scale: [1]}\n", "unknown key 'gird'"),
        ("notebook: tiny.ipynb\nrepeats: two\n", "repeats: .*integer.*'two'"),
        ("notebook: tiny.ipynb\nworkers: 0\n", "workers: .*greater than 0"),
        ("notebook: tiny.ipynb\ngrid: {scale: []}\n", "grid.scale is empty"),
        ("notebook: tiny.ipynb\ngrid: {scale: 1.0}\n", "grid.scale: .*list"),
        ("notebook: tiny.ipynb\nparameters: {steps: 1}\ngrid: {steps: [1]}\n", "both"),
        ("notebook: missing.ipynb\n", "not found"),
        ("- just\n- a list\n", "must be a YAML mapping"),
        ("notebook: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_specs_are_refused(tmp_path: Path, body: str, match: str) -> None:
    with pytest.raises(SweepSpecError, match=match):
        load_spec(_spec(tmp_path, body))


def test_bad_sweeps_write_nothing(workspace: Path) -> None:
    bad_param = _spec(workspace, "notebook: tiny.ipynb\ngrid: {scael: [1.0, 2.0]}\n")
    with pytest.raises(NotebookParameterError, match="scael"):
        run_sweep(bad_param, report=False, progress=False)
    bad_type = _spec(workspace, "notebook: tiny.ipynb\ngrid: {steps: [1, 'two']}\n")
    with pytest.raises(NotebookParameterError, match="steps='two'"):
        run_sweep(bad_type, report=False, progress=False)
    bad_exec = _spec(workspace, "notebook: tiny.ipynb\nexecutor: slurm\n")
    with pytest.raises(UnknownNameError, match=r"unknown executor 'slurm'.*local, ray"):
        run_sweep(bad_exec, report=False, progress=False)
    store = open_store()
    assert store.runs_frame().empty and store.sweeps() == []
