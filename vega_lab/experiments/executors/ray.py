"""Ray executor: the same runs as Ray tasks, on local Ray or a cluster (``VEGA_RAY_ADDRESS``).

On a cluster every node needs this project's environment (same lock file) and a shared
results store (``VEGA_RESULTS_URL`` pointing at a database all nodes reach).
"""

from __future__ import annotations

from collections.abc import Sequence

from vega_lab.config import get_settings, ray_temp_dir
from vega_lab.errors import ExecutorError
from vega_lab.experiments.executors.base import (
    Executor,
    OnResult,
    record_crash,
    register,
    run_task_in_worker,
)
from vega_lab.experiments.runner import RunResult, RunTask


@register
class RayExecutor(Executor):
    """One Ray task (1 CPU) per run; starts local Ray if none is running and stops it after."""

    name = "ray"

    def run(self, tasks: Sequence[RunTask], on_result: OnResult | None = None) -> list[RunResult]:
        if not tasks:
            return []
        try:
            import ray
        except ImportError as exc:
            raise ExecutorError(
                "the ray executor needs Ray",
                "install the `ray` extra: pip install -c requirements.lock -e '.[ray]'",
            ) from exc
        import os

        os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")  # CPU-only: keep quiet
        address = get_settings().ray_address
        started_here = not ray.is_initialized()
        if started_here:
            try:
                kwargs = (
                    {"address": address}
                    if address
                    else {
                        "num_cpus": self.workers,
                        "include_dashboard": False,
                        "_temp_dir": ray_temp_dir(),
                    }
                )
                ray.init(log_to_driver=False, configure_logging=False, **kwargs)
            except Exception as exc:
                raise ExecutorError(
                    f"could not start or reach Ray ({address or 'local'}): {exc}",
                    "check VEGA_RAY_ADDRESS, or unset it for local Ray",
                ) from exc
        try:
            remote = ray.remote(num_cpus=1, max_retries=0)(run_task_in_worker)
            pending = {remote.remote(t, self.name): t for t in tasks}
            results: dict[str, RunResult] = {}
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                ref = done[0]
                task = pending.pop(ref)
                try:
                    res = ray.get(ref)
                except Exception as exc:  # the worker died
                    res = record_crash(task, exc)
                results[task.run_id] = res
                if on_result:
                    on_result(res)
            return [results[t.run_id] for t in tasks]
        finally:
            if started_here:
                ray.shutdown()
