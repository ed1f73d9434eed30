"""Experiments: Papermill runs, sweeps on local processes or Ray, a results store, reports.

The façade a notebook, a panel or the CLI uses::

    from vega_lab import experiments
    result = experiments.run_notebook("experiments/centralized_baseline.ipynb", {"lr": 0.1})
    sweep = experiments.run_sweep("experiments/sweeps/baseline_lr.yaml")
    experiments.open_store().runs_frame(sweep_id=sweep.sweep_id)

Names load lazily: a notebook that only records metrics (``current_run``) does not pay for
Papermill, nbformat and altair imports.
"""

from __future__ import annotations

from vega_lab._lazy import lazy_exports

_EXPORTS = {
    "check_parameters": "parameters",
    "declared_parameters": "parameters",
    "write_report": "report",
    "write_run_report": "report",
    "write_sweep_report": "report",
    "RunResult": "runner",
    "RunTask": "runner",
    "execute_task": "runner",
    "plan_run": "runner",
    "run_notebook": "runner",
    "SweepSpec": "spec",
    "load_spec": "spec",
    "ResultsStore": "store",
    "open_store": "store",
    "SweepResult": "sweep",
    "run_sweep": "sweep",
    "Run": "tracking",
    "current_run": "tracking",
}
__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(
    __name__, {name: f"{__name__}.{module}" for name, module in _EXPORTS.items()}
)
