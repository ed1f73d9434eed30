"""Local executor: a pool of processes, each driving its own kernel through Papermill."""

from __future__ import annotations

import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed

from vega_lab.experiments.executors.base import (
    Executor,
    OnResult,
    record_crash,
    register,
    run_task_in_worker,
)
from vega_lab.experiments.runner import RunResult, RunTask


@register
class LocalExecutor(Executor):
    """Uses ``workers`` processes (default: all cores); spawn, so torch state never forks."""

    name = "local"

    def run(self, tasks: Sequence[RunTask], on_result: OnResult | None = None) -> list[RunResult]:
        if not tasks:
            return []
        results: dict[str, RunResult] = {}
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(self.workers, len(tasks)), mp_context=ctx) as pool:
            futures = {pool.submit(run_task_in_worker, t, self.name): t for t in tasks}
            for fut in as_completed(futures):
                task = futures[fut]
                try:
                    res = fut.result()
                except Exception as exc:  # the worker process itself died
                    res = record_crash(task, exc)
                results[task.run_id] = res
                if on_result:
                    on_result(res)
        return [results[t.run_id] for t in tasks]
