"""The results store: real SQLite files, concurrent writers, pandas views, clean failures."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pandas as pd
import pytest

from vega_lab.errors import RunNotFoundError, StoreError
from vega_lab.experiments.store import ResultsStore, RunRow


def _row(run_id: str, **kw) -> RunRow:
    base = dict(
        id=run_id, key=run_id, notebook="nb.ipynb", parameters={"lr": 0.1}, seed=0, status="running"
    )
    return RunRow(**{**base, **kw})


def test_metrics_round_trip_through_pandas(tmp_path: Path) -> None:
    s = ResultsStore(f"sqlite:///{tmp_path / 'r.sqlite'}")
    s.add_runs([_row("a"), _row("b", parameters={"lr": 0.2})])
    for step in range(3):
        s.log_metrics("a", {"loss": 1.0 / (step + 1), "acc": step / 3}, step=step, kind="step")
    s.log_metrics("a", {"acc": 0.9}, step=None, kind="final")
    s.log_metrics("a", {"acc": 0.95}, step=None, kind="final")  # replaces
    s.log_table("a", "confusion", [{"true": 0, "pred": 1, "n": 3}])

    m = s.metrics_frame(run_ids=["a"], kind="step")
    assert list(m.columns) == ["run_id", "name", "step", "value", "kind"]
    assert m[m["name"] == "loss"]["value"].tolist() == pytest.approx([1.0, 0.5, 1 / 3])
    runs = s.runs_frame()
    a = runs.set_index("run_id").loc["a"]
    assert a["m.acc"] == pytest.approx(0.95)
    assert runs.set_index("run_id").loc["b", "p.lr"] == 0.2
    assert s.tables("a")["confusion"].to_dict("records") == [{"true": 0, "pred": 1, "n": 3}]
    # plain SQL works too
    n = pd.read_sql("select count(*) as n from metrics", s.engine)["n"][0]
    assert n == 7
    with s.engine.connect() as c:
        assert c.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_bad_values_are_refused_and_nothing_is_written(tmp_path: Path) -> None:
    s = ResultsStore(f"sqlite:///{tmp_path / 'r.sqlite'}")
    s.add_runs([_row("a")])
    with pytest.raises(StoreError, match="metric 'acc' must be a number"):
        s.log_metrics("a", {"loss": 1.0, "acc": "high"}, step=0, kind="step")
    with pytest.raises(RunNotFoundError):
        s.log_metrics("nope", {"loss": 1.0}, step=0, kind="step")
    with pytest.raises(RunNotFoundError):
        s.get_run("nope")
    assert s.metrics_frame().empty


def test_unopenable_store_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot open the results store"):
        ResultsStore(f"sqlite:///{blocker / 'sub' / 'r.sqlite'}")


def _writer(url: str, run_id: str, n: int) -> None:
    s = ResultsStore(url)
    for i in range(n):
        s.log_metrics(run_id, {"v": float(i)}, step=i, kind="step")


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.sqlite'}"
    s = ResultsStore(url)
    ids = [f"w{i}" for i in range(4)]
    s.add_runs([_row(i) for i in ids])
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(url, i, 150)) for i in ids]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    m = s.metrics_frame()
    assert len(m) == 4 * 150
    assert m.groupby("run_id")["step"].nunique().tolist() == [150] * 4
