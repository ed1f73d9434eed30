"""A real 4-run sweep of the baseline notebook: local processes, then Ray, one run failing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import REPO
from vega_lab.experiments import open_store, run_sweep, write_sweep_report

pytestmark = pytest.mark.slow

SPEC = """\
name: {name}
notebook: {notebook}
executor: {executor}
workers: 2
parameters: {{dataset: digits, epochs: 2, batch_size: 32}}
grid:
  lr: [0.1, 0.2, 0.5, -1.0]   # -1.0 makes train_classifier raise: the planned failure
seeds: [0]
"""


def _write_spec(folder: Path, name: str, executor: str) -> Path:
    p = folder / f"{name}.yaml"
    p.write_text(
        SPEC.format(
            name=name,
            executor=executor,
            notebook=REPO / "experiments" / "centralized_baseline.ipynb",
        )
    )
    return p


def _finals(sweep_id: str) -> dict[tuple[float, int], float]:
    frame = open_store().runs_frame(sweep_id=sweep_id)
    done = frame[frame["status"] == "finished"]
    return {(r["p.lr"], r["seed"]): r["m.test_accuracy"] for _, r in done.iterrows()}


@pytest.fixture
def local_sweep(workspace: Path):
    spec = _write_spec(workspace, "lr_local", "local")
    return spec, run_sweep(spec, progress=False)


def test_local_sweep_records_failure_and_continues(local_sweep, workspace: Path) -> None:
    spec, res = local_sweep
    assert res.executor == "local" and res.workers == 2
    assert len(res.results) == 4 and len(res.finished) == 3 and len(res.failed) == 1
    failed = open_store().get_run(res.failed[0].run_id)
    assert failed.parameters["lr"] == -1.0
    assert failed.error_name == "VegaError" and "lr must be positive" in failed.error_traceback
    assert failed.error_cell is not None
    finals = _finals(res.sweep_id)
    assert set(finals) == {(0.1, 0), (0.2, 0), (0.5, 0)}
    assert all(0.3 < acc <= 1.0 for acc in finals.values())
    steps = open_store().metrics_frame(sweep_id=res.sweep_id, name="test_accuracy", kind="step")
    assert steps.groupby("run_id")["step"].apply(list).tolist() == [[1, 2]] * 3

    html = Path(res.report_path).read_text()
    assert html.count("<svg") >= 2 and "Failures" in html and "lr must be positive" in html
    for r in res.results:
        assert r.run_id in html
        assert (workspace / "reports" / "runs" / r.run_id / "report.html").is_file()

    # rewriting the sweep report leaves the reports of ended runs alone
    done = workspace / "reports" / "runs" / res.finished[0].run_id / "report.html"
    stamp = done.stat().st_mtime_ns
    assert write_sweep_report(res.sweep_id) == Path(res.report_path)
    assert done.stat().st_mtime_ns == stamp

    # a re-run skips the finished runs and retries only the failed one
    again = run_sweep(spec, progress=False, report=False)
    assert len(again.skipped) == 3 and len(again.results) == 1
    assert again.results[0].status == "failed"
    assert len(open_store().find_runs(sweep_id=res.sweep_id)) == 4  # stale failure replaced

    # the same sweep on local Ray records the same numbers for the same seeds
    ray_res = run_sweep(_write_spec(workspace, "lr_ray", "ray"), progress=False, report=False)
    assert ray_res.executor == "ray"
    assert len(ray_res.finished) == 3 and len(ray_res.failed) == 1
    ray_finals = _finals(ray_res.sweep_id)
    assert ray_finals.keys() == finals.keys()
    for k, v in finals.items():
        assert ray_finals[k] == pytest.approx(v, abs=1e-9)
    assert {r.executor for r in open_store().find_runs(sweep_id="lr_ray")} == {"ray"}
