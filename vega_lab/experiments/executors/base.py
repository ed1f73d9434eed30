"""The executor interface and its registry: a sweep's runs go to an executor chosen by name."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import ClassVar

from vega_lab.experiments.runner import RunResult, RunTask, execute_task
from vega_lab.experiments.store import open_store, utcnow
from vega_lab.registry import lookup

OnResult = Callable[[RunResult], None]


class Executor(ABC):
    """Runs planned notebook runs, each in its own kernel, and returns their results in order."""

    name: ClassVar[str]

    def __init__(self, workers: int | None = None) -> None:
        import os

        self.workers = max(1, workers or os.cpu_count() or 1)

    @abstractmethod
    def run(self, tasks: Sequence[RunTask], on_result: OnResult | None = None) -> list[RunResult]:
        """Execute every task; a failing run is a result, never an exception."""

    @contextmanager
    def prepared(self, home: str, results_url: str, seed: int | None) -> Iterator[None]:
        """Around planning and running a sweep (first run's home, store and seed), so slow
        set-up can start before the runs are planned; ``run`` outside it works too."""
        yield


EXECUTORS: dict[str, type[Executor]] = {}


def register(cls: type[Executor]) -> type[Executor]:
    EXECUTORS[cls.name] = cls
    return cls


def get_executor(name: str, workers: int | None = None) -> Executor:
    return lookup(EXECUTORS, name, "executor")(workers=workers)


def run_task_in_worker(task: RunTask, executor: str) -> RunResult:
    """Worker entry point (top-level so process pools and Ray can ship it)."""
    return execute_task(task, executor=executor)


def record_crash(task: RunTask, exc: BaseException) -> RunResult:
    """A worker died before it could record its run: record the failure from the driver."""
    import traceback

    message = f"{type(exc).__name__}: {exc}"
    open_store(task.results_url).update_run(
        task.run_id,
        status="failed",
        finished_at=utcnow(),
        error_name=type(exc).__name__,
        error_message=message,
        error_traceback="".join(traceback.format_exception(exc)),
    )
    return RunResult(
        run_id=task.run_id,
        status="failed",
        duration_s=0.0,
        output_path="",
        error_name=type(exc).__name__,
        error_message=message,
    )
