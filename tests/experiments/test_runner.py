"""Single Papermill runs: a real kernel, the real store, recorded parameters and failures."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from tests.conftest import tiny_notebook
from vega_lab.errors import NotebookNotFoundError, NotebookParameterError
from vega_lab.experiments import open_store, run_notebook, write_run_report


def test_run_records_parameters_metrics_environment(workspace: Path) -> None:
    nb = tiny_notebook(workspace / "tiny.ipynb")
    res = run_notebook(nb, {"scale": 2.0, "steps": 4}, seed=3)
    assert res.status == "finished", res.error_message
    store = open_store()
    row = store.get_run(res.run_id)
    assert row.parameters == {"scale": 2.0, "steps": 4, "seed": 3}
    assert row.seed == 3 and row.duration_s and row.duration_s > 0
    assert row.environment["key_packages"]["papermill"]
    assert "torch" in row.environment["packages"]
    assert row.git_commit is None or len(row.git_commit) >= 40
    out = Path(res.output_path)
    assert out.parent == workspace / "reports" / "runs" / res.run_id
    executed = nbformat.read(out, 4)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in executed.cells)
    assert json.loads((out.parent / "parameters.json").read_text())["seed"] == 3
    m = store.metrics_frame(run_ids=[res.run_id])
    steps = m[m["kind"] == "step"]
    assert steps["value"].tolist() == [5.0, 7.0, 9.0, 11.0]  # 2*(step+1) + seed
    assert m[m["kind"] == "final"]["value"].tolist() == [2.0 * 10 + 12]
    html = write_run_report(res.run_id).read_text()
    assert res.run_id in html and "<svg" in html and "notebook.html" in html


def test_failing_notebook_is_recorded_not_raised(workspace: Path) -> None:
    nb = tiny_notebook(workspace / "bad.ipynb", fail=True)
    res = run_notebook(nb, {"steps": 2})
    assert res.status == "failed"
    row = open_store().get_run(res.run_id)
    assert row.status == "failed" and row.error_name == "RuntimeError"
    assert "planned failure for the test" in row.error_traceback
    assert row.error_cell is not None
    # the metrics logged before the failure are kept
    assert len(open_store().metrics_frame(run_ids=[res.run_id])) == 2
    assert "planned failure" in write_run_report(res.run_id).read_text()


def test_bad_input_writes_nothing(workspace: Path) -> None:
    nb = tiny_notebook(workspace / "tiny.ipynb")
    with pytest.raises(NotebookNotFoundError):
        run_notebook(workspace / "missing.ipynb")
    with pytest.raises(NotebookParameterError, match=r"does not declare parameter.*nope"):
        run_notebook(nb, {"nope": 1})
    with pytest.raises(NotebookParameterError, match="steps='many' is str"):
        run_notebook(nb, {"steps": "many"})
    assert open_store().runs_frame().empty
    assert not (workspace / "reports" / "runs").exists()
