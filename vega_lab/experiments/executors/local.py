"""Local executor: ``workers`` runs at a time on this machine, each in its own kernel.

``isolation: warm`` (the default) forks every run's kernel from a template that already imported
the heavy modules (``warm_pool``); ``isolation: fresh`` starts a new interpreter per run through
Papermill, in a pool of spawned processes. Both give each run a new process; warm skips the
imports (most of a short run's time).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from typing import TYPE_CHECKING, ClassVar

from vega_lab.experiments.executors.base import (
    Executor,
    OnResult,
    record_crash,
    register,
    run_task_in_worker,
)
from vega_lab.experiments.runner import (
    RunResult,
    RunTask,
    execute_task,
    kernel_environment,
    shared_kernel_environment,
)

if TYPE_CHECKING:
    from vega_lab.experiments.warm_pool import WarmPool

log = logging.getLogger(__name__)


@register
class LocalExecutor(Executor):
    """Uses ``workers`` concurrent runs (default: all cores)."""

    name = "local"
    isolations: ClassVar[tuple[str, ...]] = ("warm", "fresh")
    isolation: str = "warm"
    preload: tuple[str, ...] | None = None  # warm only; None = warm_pool.DEFAULT_PRELOAD

    _pool: WarmPool | None = None  # set while inside ``prepared``

    @contextmanager
    def prepared(self, home: str, results_url: str, seed: int | None) -> Iterator[None]:
        """Warm: start the first template now, so its imports overlap the sweep's planning."""
        from vega_lab.experiments.warm_pool import WarmPool, warm_available

        if self.isolation != "warm" or not warm_available():
            yield
            return
        pool = self._pool = WarmPool(self.preload)
        pool.start_soon(shared_kernel_environment(home, results_url, seed))
        try:
            yield
        finally:
            self._pool = None
            pool.close()

    def run(self, tasks: Sequence[RunTask], on_result: OnResult | None = None) -> list[RunResult]:
        if not tasks:
            return []
        if self.isolation == "warm":
            from vega_lab.experiments.warm_pool import WarmPool, is_native_kernel, warm_available

            if warm_available():
                pool, owned = self._pool, self._pool is None
                if pool is None:
                    first = tasks[0]
                    pool = WarmPool(self.preload)
                    pool.start_soon(
                        shared_kernel_environment(first.home, first.results_url, first.seed)
                    )
                if all(is_native_kernel(k) for k in {t.kernel_name for t in tasks}):
                    return self._run_warm(tasks, on_result, pool, owned)
                if owned:
                    pool.close()
            log.warning(
                "warm kernels need Linux and this interpreter's ipykernel (kernels: %s): "
                "running fresh",
                ", ".join(sorted({t.kernel_name for t in tasks})),
            )
        return self._run_fresh(tasks, on_result)

    def _run_fresh(self, tasks: Sequence[RunTask], on_result: OnResult | None) -> list[RunResult]:
        """Spawned processes (so torch state never forks), each driving Papermill kernels."""
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(self.workers, len(tasks)), mp_context=ctx) as pool:
            futures = {pool.submit(run_task_in_worker, t, self.name): t for t in tasks}
            return self._collect(tasks, futures, on_result)

    def _run_warm(
        self, tasks: Sequence[RunTask], on_result: OnResult | None, pool: WarmPool, owned: bool
    ) -> list[RunResult]:
        """Threads here drive forked kernels; runs sharing a hash seed are queued together so
        each template can be closed as soon as its last run ends."""
        from vega_lab.errors import ExecutorError

        def key(task: RunTask) -> str:
            return kernel_environment(task)["PYTHONHASHSEED"]

        first = {k: i for i, k in reversed(list(enumerate(key(t) for t in tasks)))}
        queue = sorted(tasks, key=lambda t: first[key(t)])  # stable: grouped, else in order
        left = Counter(key(t) for t in tasks)
        lock = threading.Lock()

        def work(task: RunTask) -> RunResult:
            try:
                _driver_ready()  # while the template imports, in another process
                # start-up is the pool's time, not the run's; a failure is remembered and
                # recorded by the run below
                with contextlib.suppress(ExecutorError):
                    pool.template(task)
                return execute_task(task, self.name, step=pool.execute)
            finally:
                with lock:
                    left[key(task)] -= 1
                    last = left[key(task)] == 0
                if last:
                    pool.retire(key(task))

        threads = ThreadPoolExecutor(
            max_workers=min(self.workers, len(tasks)), thread_name_prefix="vega-warm"
        )
        try:
            futures = {threads.submit(work, t): t for t in queue}
            return self._collect(tasks, futures, on_result)
        except BaseException:
            pool.close()  # an interrupt: end the running kernels, so the threads end
            raise
        finally:
            threads.shutdown(wait=True, cancel_futures=True)
            # the runs' kernels are gone before this returns, as a fresh run's are
            if owned:
                pool.close()
            else:
                pool.drain()

    @staticmethod
    def _collect(
        tasks: Sequence[RunTask],
        futures: dict[Future[RunResult], RunTask],
        on_result: OnResult | None,
    ) -> list[RunResult]:
        results: dict[str, RunResult] = {}
        for fut in as_completed(futures):
            task = futures[fut]
            try:
                res = fut.result()
            except Exception as exc:  # the worker itself died
                res = record_crash(task, exc)
            results[task.run_id] = res
            if on_result:
                on_result(res)
        return [results[t.run_id] for t in tasks]


def _driver_ready() -> None:
    """What this process needs before its first run (papermill, the environment record)."""
    import papermill  # noqa: F401

    from vega_lab.experiments.environment import capture_environment

    capture_environment()
