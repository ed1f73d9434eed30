"""Run one parameterized notebook through Papermill and record it in the results store.

``plan_run`` validates everything (notebook, parameters, types) before a row is written;
``execute_task`` runs a planned run in whatever process it lands in (this one, a local worker,
a Ray worker) and always leaves the run ``finished`` or ``failed`` with the failing cell and
traceback. ``run_notebook`` does both for a single run.
"""

from __future__ import annotations

import json
import os
import re
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vega_lab.config import Settings, get_settings
from vega_lab.experiments.environment import capture_environment
from vega_lab.experiments.parameters import (
    check_parameters,
    declared_parameters,
)

if TYPE_CHECKING:  # the store pulls in pandas and SQLAlchemy: import it when a run needs it
    from vega_lab.experiments.store import ResultsStore, RunRow

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def display_path(path: Path, home: Path) -> str:
    """Paths inside the project are recorded relative to it, so stores move with the repo."""
    try:
        return str(path.resolve().relative_to(home))
    except ValueError:
        return str(path.resolve())


@dataclass(frozen=True)
class RunTask:
    """Everything a worker needs to execute one planned run (picklable, JSON-able)."""

    run_id: str
    notebook: str
    parameters: dict[str, Any]
    seed: int | None
    results_url: str
    reports_dir: str
    home: str
    kernel_name: str
    timeout_s: int | None = None


@dataclass(frozen=True)
class RunResult:
    run_id: str
    status: str
    duration_s: float
    output_path: str
    error_name: str | None = None
    error_message: str | None = None
    error_cell: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def plan_run(
    notebook: str | Path,
    parameters: Mapping[str, Any] | None = None,
    seed: int | None = None,
    *,
    sweep_id: str | None = None,
    executor: str = "inline",
    settings: Settings | None = None,
) -> tuple[RunRow, RunTask]:
    """Validate a run and describe it; raises a VegaError and writes nothing on bad input."""
    settings = settings or get_settings()
    declared = declared_parameters(Path(notebook).expanduser())  # errors name the given path
    path = Path(notebook).expanduser().resolve()
    params = dict(parameters or {})
    if "seed" in params:
        seed = params["seed"]
    seed = settings.seed if seed is None else seed
    if "seed" in declared:
        params["seed"] = seed
    check_parameters(path, params, declared)
    from vega_lab.experiments.store import new_run_row

    row = new_run_row(
        display_path(path, settings.home),
        params,
        seed,
        sweep_id=sweep_id,
        status="pending",
        executor=executor,
    )
    task = RunTask(
        run_id=row.id,
        notebook=str(path),
        parameters=params,
        seed=seed,
        results_url=settings.results_db_url,
        reports_dir=str(settings.reports_path),
        home=str(settings.home),
        kernel_name=settings.kernel_name,
        timeout_s=settings.run_timeout_s,
    )
    return row, task


@contextmanager
def _patched_environ(values: Mapping[str, str]) -> Iterator[None]:
    """The kernel inherits os.environ at start; restore it afterwards."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


NotebookStep = Callable[["RunTask", Path, Mapping[str, str]], None]
"""Executes a run's parameterized notebook into ``output`` with the run's kernel environment;
a failing cell raises papermill's ``PapermillExecutionError``, anything else is recorded too."""


def shared_kernel_environment(home: str, results_url: str, seed: int | None) -> dict[str, str]:
    """The part of a run's kernel environment that does not name the run (a warm template's)."""
    from vega_lab.experiments.tracking import RESULTS_URL_ENV

    return {
        RESULTS_URL_ENV: results_url,
        "VEGA_HOME": home,
        "PYTHONHASHSEED": str(seed or 0),  # acts at interpreter start only
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        "TQDM_MININTERVAL": "5",
    }


def kernel_environment(task: RunTask) -> dict[str, str]:
    """What a run's kernel gets on top of the driver's environment (read by ``current_run``)."""
    from vega_lab.experiments.tracking import RUN_ID_ENV, SEED_ENV

    env = shared_kernel_environment(task.home, task.results_url, task.seed)
    env[RUN_ID_ENV] = task.run_id
    if task.seed is not None:
        env[SEED_ENV] = str(task.seed)
    return env


def papermill_arguments(task: RunTask, output: Path) -> dict[str, Any]:
    """The ``papermill.execute_notebook`` arguments every way of running a task shares."""
    return {
        "input_path": task.notebook,
        "output_path": str(output),
        "parameters": task.parameters,
        "kernel_name": task.kernel_name,
        "progress_bar": False,
        "execution_timeout": task.timeout_s,
    }


def execute_fresh(task: RunTask, output: Path, kernel_env: Mapping[str, str]) -> None:
    """Today's path: Papermill starts a new kernel process (inheriting this process's
    environment and the notebook's folder as cwd) and shuts it down afterwards."""
    import papermill as pm

    with _patched_environ(kernel_env):
        pm.execute_notebook(
            **papermill_arguments(task, output), cwd=str(Path(task.notebook).parent)
        )


def execute_task(
    task: RunTask, executor: str | None = None, step: NotebookStep | None = None
) -> RunResult:
    """Execute a planned run; never raises for a failing notebook (the store records it).

    ``step`` runs the notebook (default: a fresh kernel, ``execute_fresh``); whatever runs it,
    the run is recorded here the same way: its status, the failing cell and traceback."""
    from papermill.exceptions import PapermillExecutionError

    from vega_lab.experiments.store import open_store, utcnow

    store: ResultsStore = open_store(task.results_url)
    out_dir = Path(task.reports_dir) / "runs" / task.run_id
    out_dir.mkdir(parents=True, exist_ok=True)
    output = out_dir / Path(task.notebook).name
    (out_dir / "parameters.json").write_text(
        json.dumps({"parameters": task.parameters, "seed": task.seed}, indent=2, default=str)
    )
    env = capture_environment()
    fields: dict[str, Any] = {
        "status": "running",
        "started_at": utcnow(),
        "output_path": str(output),
        "environment": env,
        "git_commit": env.get("git_commit"),
    }
    if executor:
        fields["executor"] = executor
    store.update_run(task.run_id, **fields)

    start = time.perf_counter()
    result: dict[str, Any] = {"status": "finished"}
    try:
        (step or execute_fresh)(task, output, kernel_environment(task))
    except PapermillExecutionError as exc:
        tb = _ANSI.sub("", "\n".join(exc.traceback))
        result = {
            "status": "failed",
            "error_cell": exc.cell_index,
            "error_name": exc.ename,
            "error_message": f"{exc.ename}: {exc.evalue}",
            "error_traceback": f"In cell {exc.cell_index} (execution count "
            f"{exc.exec_count}):\n{exc.source}\n\n{tb}",
        }
    except BaseException as exc:  # kernel death, timeouts, interrupts: still record the run
        result = {
            "status": "failed",
            "error_name": type(exc).__name__,
            "error_message": f"{type(exc).__name__}: {exc}",
            "error_traceback": traceback.format_exc(),
        }
        if not isinstance(exc, Exception):
            _finish(store, task, result, time.perf_counter() - start)
            raise
    duration = _finish(store, task, result, time.perf_counter() - start)
    return RunResult(
        run_id=task.run_id,
        status=result["status"],
        duration_s=duration,
        output_path=str(output),
        error_name=result.get("error_name"),
        error_message=result.get("error_message"),
        error_cell=result.get("error_cell"),
    )


def _finish(store: ResultsStore, task: RunTask, result: dict[str, Any], duration: float) -> float:
    from vega_lab.experiments.store import utcnow

    store.update_run(task.run_id, finished_at=utcnow(), duration_s=duration, **result)
    return duration


def run_notebook(
    notebook: str | Path,
    parameters: Mapping[str, Any] | None = None,
    seed: int | None = None,
    *,
    settings: Settings | None = None,
) -> RunResult:
    """Run one notebook now, in a fresh kernel, and record it; returns its result."""
    settings = settings or get_settings()
    row, task = plan_run(notebook, parameters, seed, settings=settings)
    from vega_lab.experiments.store import open_store

    open_store(task.results_url).add_runs([row])
    return execute_task(task)
