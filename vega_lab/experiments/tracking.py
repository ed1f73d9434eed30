"""The tiny API a notebook calls to record what it measured.

Under Papermill the runner passes the run id and the store URL through ``VEGA_RUN_ID`` and
``VEGA_RESULTS_URL``; opened interactively, ``current_run()`` creates an ``interactive`` run so
exploration is recorded too. Usage::

    run = experiments.current_run(params=dict(lr=lr, epochs=epochs), seed=seed)
    run.log(step=epoch, loss=loss, accuracy=acc)   # scalars per step
    run.log_final(accuracy=acc)                     # final values
    run.log_table("per_class", frame)               # small tables
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from vega_lab.experiments.store import ResultsStore, new_run_row, open_store, utcnow

RUN_ID_ENV = "VEGA_RUN_ID"
RESULTS_URL_ENV = "VEGA_RESULTS_URL"
SEED_ENV = "VEGA_SEED"


@dataclass
class Run:
    """A handle on one run in the results store."""

    run_id: str
    store: ResultsStore
    managed: bool = True  # True when a runner owns the run's status
    _steps: dict[str, int] = field(default_factory=dict)

    def log(self, step: int | None = None, **values: Any) -> None:
        """Record scalars at ``step`` (default: one past this metric's last step)."""
        if step is None:
            step = max((self._steps.get(k, -1) for k in values), default=-1) + 1
        for k in values:
            self._steps[k] = step
        self.store.log_metrics(self.run_id, values, step=int(step), kind="step")

    def log_final(self, **values: Any) -> None:
        """Record final values (re-logging a name replaces it)."""
        self.store.log_metrics(self.run_id, values, step=None, kind="final")

    def log_table(self, name: str, table: pd.DataFrame | list[Mapping[str, Any]]) -> None:
        """Record a small table (kept as JSON rows; keep it to a few thousand cells)."""
        records = table.to_dict("records") if isinstance(table, pd.DataFrame) else list(table)
        self.store.log_table(self.run_id, name, [dict(r) for r in records])

    def metrics(self) -> pd.DataFrame:
        return self.store.metrics_frame(run_ids=[self.run_id])

    def finish(self, status: str = "finished") -> None:
        """Close an interactive run; a no-op under a runner, which sets the status itself."""
        if not self.managed:
            row = self.store.get_run(self.run_id)
            started = row.started_at or row.created_at
            end = utcnow()
            self.store.update_run(
                self.run_id,
                status=status,
                finished_at=end,
                duration_s=(end - started).total_seconds(),
            )


_CURRENT: Run | None = None


def current_run(
    params: Mapping[str, Any] | None = None,
    seed: int | None = None,
    notebook: str = "<interactive>",
) -> Run:
    """The run this code executes in: the runner's, or a new interactive one."""
    global _CURRENT
    run_id = os.environ.get(RUN_ID_ENV)
    if run_id:
        store = open_store(os.environ.get(RESULTS_URL_ENV))
        store.get_run(run_id)  # fail loudly if the runner's row is missing
        if _CURRENT is None or _CURRENT.run_id != run_id:
            _CURRENT = Run(run_id=run_id, store=store, managed=True)
        return _CURRENT
    if _CURRENT is not None and not _CURRENT.managed:
        return _CURRENT
    from vega_lab.experiments.environment import capture_environment

    store = open_store(os.environ.get(RESULTS_URL_ENV))
    env = capture_environment()
    row = new_run_row(
        notebook,
        params or {},
        seed,
        status="running",
        executor="interactive",
        started_at=utcnow(),
        environment=env,
        git_commit=env.get("git_commit"),
    )
    store.add_runs([row])
    _CURRENT = Run(run_id=row.id, store=store, managed=False)
    return _CURRENT
