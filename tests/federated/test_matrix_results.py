"""The robustness matrix read back from the results store (what the federated dashboard shows):
runs recorded through the store's API as experiments/robustness_matrix.ipynb records them, and
one real sweep of that notebook with tiny parameters."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from tests.conftest import REPO
from vega_lab.charts import to_svg
from vega_lab.errors import RunNotFoundError
from vega_lab.experiments import open_store, run_sweep
from vega_lab.experiments.store import ResultsStore, RunRow
from vega_lab.federated.matrix_results import (
    SWEEP_COMMAND,
    fractions,
    robustness_heatmap,
    robustness_results,
    summarize,
)

NOTEBOOK = "experiments/robustness_matrix.ipynb"
WORKLOAD = {"dataset": "digits", "num_clients": 10, "rounds": 2}
AXES = {
    "aggregators": ["fedavg", "bulyan"],
    "attacks": ["sign_flip", "alie"],
    "fractions": [0.0, 0.3],
}


def accuracy(aggregator: str, attack: str, fraction: float, seed: int) -> float | None:
    """The recorded cells: Bulyan refuses at 30% (f=3 needs n >= 4f + 3 = 15 > 10); the rest
    known numbers."""
    if aggregator == "bulyan" and fraction == 0.3:
        return None
    drop = {"sign_flip": 0.4, "alie": 0.2}[attack] * fraction / 0.3
    return round(0.9 - drop + (0.05 if aggregator == "bulyan" else 0.0) + 0.02 * seed, 4)


def record_robustness_runs(store: ResultsStore | None = None) -> list[str]:
    """Two seeds of a 2 x 2 x 2 matrix in the robustness_matrix sweep, plus an older run at
    another workload (20 clients), each logging its table as the notebook does."""
    store = store or open_store()
    store.upsert_sweep("robustness_matrix", NOTEBOOK, {"repeats": 2})
    runs = [("r-rob-old", {**WORKLOAD, "num_clients": 20}, 0)]
    runs += [(f"r-rob-{seed}", WORKLOAD, seed) for seed in (0, 1)]
    ids = []
    for day, (run_id, workload, seed) in enumerate(runs, 1):  # the 20-client run is the oldest
        store.add_runs(
            [
                RunRow(
                    id=run_id,
                    sweep_id="robustness_matrix",
                    key=run_id,
                    notebook=NOTEBOOK,
                    parameters={**AXES, **workload},
                    seed=seed,
                    status="finished",
                    created_at=datetime(2026, 11, day),
                )
            ]
        )
        rows = []
        for aggregator in AXES["aggregators"]:
            for fraction in AXES["fractions"]:
                for attack in AXES["attacks"]:
                    acc = accuracy(aggregator, attack, fraction, seed)
                    rows.append(
                        {
                            "aggregator": aggregator,
                            "attack": attack,
                            "malicious_fraction": fraction,
                            "malicious": round(fraction * 10),
                            "status": "refused" if acc is None else "ok",
                            "accuracy": acc,
                            "backdoor_success": None,
                            "error": "bulyan cannot tolerate f=3" if acc is None else None,
                        }
                    )
        store.log_table(run_id, "matrix", rows)
        store.log_metrics(run_id, {"refused": 2}, step=None, kind="final")
        ids.append(run_id)
    return ids


def test_results_are_read_into_a_tidy_frame_of_the_latest_workload(store: ResultsStore) -> None:
    assert robustness_results(store).empty
    record_robustness_runs(store)
    # another notebook's run with a "matrix" table is not the robustness matrix
    store.add_runs([RunRow(id="r-other", key="o", notebook="x.ipynb", parameters={}, seed=0,
                           status="finished")])  # fmt: skip
    store.log_table("r-other", "matrix", [{"aggregator": "fedavg"}])

    frame = robustness_results(store)
    assert sorted(frame["run_id"].unique()) == ["r-rob-0", "r-rob-1"]  # not the 20-client run
    assert len(frame) == 2 * 8
    assert frame["workload"].nunique() == 1 and "num_clients=10" in frame["workload"].iat[0]
    assert list(frame.columns[:4]) == ["run_id", "sweep_id", "seed", "workload"]
    assert {"aggregator", "attack", "malicious_fraction", "status", "accuracy"} <= set(frame)
    assert fractions(frame) == [0.0, 0.3]
    assert len(robustness_results(store, workload=None)) == 3 * 8
    assert set(robustness_results(store, sweep_id="elsewhere")["run_id"]) == set()

    cells = summarize(frame).set_index(["aggregator", "attack", "malicious_fraction"])
    assert len(cells) == 8
    clean = cells.loc[("fedavg", "sign_flip", 0.0)]
    assert clean["accuracy"] == pytest.approx(0.91) and clean["runs"] == 2  # mean of 0.90, 0.92
    assert cells.loc[("fedavg", "sign_flip", 0.3), "label"] == "0.51"
    refused = cells.loc[("bulyan", "alie", 0.3)]
    assert refused["label"] == "refused" and refused["refused"] == 2 and refused["runs"] == 0


def test_heatmap_draws_every_fraction_or_one(store: ResultsStore) -> None:
    record_robustness_runs(store)
    frame = robustness_results(store)

    spec = robustness_heatmap(frame).to_dict()
    assert spec["facet"]["column"]["field"] == "fraction"
    assert "mean of 2 runs" in spec["title"]["text"]
    rows = [r for rows in spec["datasets"].values() for r in rows]
    assert {r["fraction"] for r in rows} == {"0% malicious", "30% malicious"}
    layers = spec["spec"]["layer"]
    assert layers[0]["encoding"]["y"]["sort"] == ["fedavg", "bulyan"]
    assert [layer["mark"]["type"] for layer in layers] == ["rect", "rect", "text"]  # grey, colour
    assert layers[2]["encoding"]["text"]["field"] == "label"
    svg = to_svg(spec)
    assert svg.startswith("<svg") and ">refused<" in svg and ">0.51<" in svg and ">0.96<" in svg

    one = robustness_heatmap(frame, 0.3).to_dict()
    assert "facet" not in one and one["title"]["text"].endswith("30% malicious")
    rows = [r for rows in one["datasets"].values() for r in rows]
    assert {r["malicious_fraction"] for r in rows} == {0.3} and len(rows) == 4
    assert ">0.91<" not in to_svg(one)  # the clean column is not in the 30% chart

    with pytest.raises(RunNotFoundError, match="choose one of"):
        robustness_heatmap(frame, 0.2)


def test_an_empty_store_says_which_command_records_the_matrix(store: ResultsStore) -> None:
    with pytest.raises(RunNotFoundError) as err:
        robustness_heatmap(robustness_results(store))
    assert SWEEP_COMMAND in str(err.value)


SPEC = """\
name: robustness_matrix
notebook: {notebook}
executor: local
workers: 1
parameters:
  aggregators: [fedavg, bulyan]
  attacks: [sign_flip]
  fractions: [0.0, 0.3]
  num_clients: 10
  rounds: 1
  local_epochs: 1
seed: 3
"""


@pytest.mark.slow
def test_a_real_sweep_of_the_notebook_reads_back(workspace: Path) -> None:
    """The reader agrees with what the notebook really records (its table and parameters)."""
    spec = workspace / "robustness_matrix.yaml"
    spec.write_text(SPEC.format(notebook=REPO / NOTEBOOK))
    res = run_sweep(spec, progress=False)
    assert len(res.finished) == 1, [r.error_message for r in res.failed]

    frame = robustness_results()
    assert set(frame["seed"]) == {3} and set(frame["sweep_id"]) == {"robustness_matrix"}
    assert "num_clients=10" in frame["workload"].iat[0]
    assert len(frame) == 2 * 1 * 2
    refused = frame[frame["status"] == "refused"]  # Bulyan at 30% of 10 clients: f=3
    assert refused[["aggregator", "malicious_fraction"]].values.tolist() == [["bulyan", 0.3]]
    ok = frame[frame["status"] == "ok"]
    assert ok["accuracy"].between(0, 1).all() and ok["accuracy"].notna().all()
    cells = summarize(frame)
    assert (cells["runs"] + cells["refused"] == 1).all()
    assert "refused" in to_svg(robustness_heatmap(frame))
