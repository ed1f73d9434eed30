"""The robustness matrix as recorded in the results store: every finished run of
experiments/robustness_matrix.ipynb (alone or in the robustness_matrix sweep, one run per seed)
logs its whole matrix as the table ``matrix``; this reads those tables back into one tidy frame
and charts the final-accuracy heatmap (aggregator x attack, per malicious fraction, mean over
the runs). Dashboards and reports read what a sweep recorded instead of re-running it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import altair as alt
import pandas as pd

from vega_lab.charts import heatmap
from vega_lab.errors import RunNotFoundError
from vega_lab.federated.matrix import AGGREGATORS, ATTACK_NAMES

if TYPE_CHECKING:
    from vega_lab.experiments.store import ResultsStore

NOTEBOOK = "robustness_matrix.ipynb"
TABLE = "matrix"
SWEEP_COMMAND = "vega-lab sweep experiments/sweeps/robustness_matrix.yaml"
#: Run parameters that choose the matrix's axes, not the workload every cell shares.
_AXES = ("aggregators", "attacks", "fractions", "seed")
_RUN_COLUMNS = ["run_id", "sweep_id", "seed", "workload"]


def workload_label(parameters: dict[str, Any]) -> str:
    """The shared workload of a run (dataset, clients, rounds ...) as ``k=v, ...``: runs with
    the same label differ by seed only, so their cells can be averaged."""
    items = sorted((k, v) for k, v in parameters.items() if k not in _AXES)
    return ", ".join(f"{k}={v}" for k, v in items) or "defaults"


def robustness_results(
    store: ResultsStore | None = None,
    *,
    sweep_id: str | None = None,
    workload: str | None = "latest",
) -> pd.DataFrame:
    """One row per recorded cell: run_id, sweep_id, seed, workload, then the matrix's columns
    (aggregator, attack, malicious_fraction, malicious, status, accuracy, backdoor_success,
    flag_recall, ...). ``workload="latest"`` keeps the runs that share the newest run's
    workload (seeds of one sweep; an older run at another scale is not averaged in), a label
    keeps that workload, None keeps every run. Empty (with those columns) when nothing is
    recorded."""
    if store is None:
        from vega_lab.experiments.store import open_store

        store = open_store()
    parts = []
    for run in store.find_runs(sweep_id=sweep_id, status="finished", notebook=NOTEBOOK):
        table = store.tables(run.id).get(TABLE)
        if table is None or table.empty:
            continue
        label = workload_label(run.parameters or {})
        parts.append(
            table.assign(run_id=run.id, sweep_id=run.sweep_id, seed=run.seed, workload=label)
        )
    if not parts:  # find_runs is newest first, so parts[0] is the latest run
        axes = ["aggregator", "attack", "malicious_fraction", "status", "accuracy"]
        return pd.DataFrame(columns=[*_RUN_COLUMNS, *axes])
    frame = pd.concat(parts, ignore_index=True)
    if workload is not None:
        keep = parts[0]["workload"].iat[0] if workload == "latest" else workload
        frame = frame[frame["workload"] == keep].reset_index(drop=True)
    frame["malicious_fraction"] = frame["malicious_fraction"].astype(float)
    frame["accuracy"] = pd.to_numeric(frame.get("accuracy"), errors="coerce")
    rest = [c for c in frame.columns if c not in _RUN_COLUMNS]
    return frame[_RUN_COLUMNS + rest]


def fractions(frame: pd.DataFrame) -> list[float]:
    """The malicious fractions recorded, ascending."""
    return sorted(float(f) for f in frame["malicious_fraction"].unique())


def _order(values: pd.Series, known: tuple[str, ...]) -> list[str]:
    present = list(dict.fromkeys(values))
    return [v for v in known if v in present] + sorted(v for v in present if v not in known)


def summarize(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (aggregator, attack, malicious_fraction): mean accuracy over the runs that
    ran, how many runs ran and refused, and the cell's text (``refused`` where every run did:
    the aggregator's guarantee was void at that fraction)."""
    ok = frame["status"].eq("ok") if "status" in frame else pd.Series(True, index=frame.index)
    cells = frame.assign(accuracy=frame["accuracy"].where(ok), _ok=ok, _refused=~ok)
    keys = ["aggregator", "attack", "malicious_fraction"]
    out = cells.groupby(keys, sort=False).agg(
        accuracy=("accuracy", "mean"), runs=("_ok", "sum"), refused=("_refused", "sum")
    )
    out = out.reset_index().astype({"runs": int, "refused": int})
    out["label"] = [
        "refused" if runs == 0 else f"{acc:.2f}"
        for acc, runs in zip(out["accuracy"], out["runs"], strict=True)
    ]
    out["fraction"] = out["malicious_fraction"].map(lambda f: f"{f:.0%} malicious")
    return out


def robustness_heatmap(frame: pd.DataFrame, fraction: float | None = None) -> alt.TopLevelMixin:
    """Final accuracy by aggregator (rows) and attack (columns), cell text the mean accuracy
    over the runs (or ``refused``); one malicious ``fraction``, or every fraction side by side
    when None. ``frame`` is `robustness_results`'s."""
    if frame.empty:
        raise RunNotFoundError(
            "no robustness matrix is recorded in the results store",
            f"record one with `{SWEEP_COMMAND}`",
        )
    cells = summarize(frame)
    if fraction is not None:
        cells = cells[(cells["malicious_fraction"] - fraction).abs() < 1e-9]
        if cells.empty:
            raise RunNotFoundError(
                f"no robustness results at malicious fraction {fraction}",
                f"choose one of {fractions(frame)}",
            )
    runs = frame["run_id"].nunique()
    chart = heatmap(
        cells,
        "attack",
        "aggregator",
        "accuracy",
        text="label",
        x_sort=_order(cells["attack"], ATTACK_NAMES),
        y_sort=_order(cells["aggregator"], AGGREGATORS),
        domain=(0.0, 1.0),
        cell=(46, 22),
    )
    what = f"final accuracy, mean of {runs} run{'s' if runs != 1 else ''}"

    def title(text: str) -> alt.TitleParams:  # from the left edge: a browser's font may be wider
        return alt.TitleParams(text, anchor="start", frame="bounds")

    if fraction is not None:
        return chart.properties(title=title(f"{what}, {fraction:.0%} malicious"))
    order = [f"{f:.0%} malicious" for f in fractions(frame)]
    return chart.facet(column=alt.Column("fraction:N", sort=order, title=None)).properties(
        title=title(what)
    )
