"""Run a sweep spec: plan every run (validating all of them first), skip the ones a previous
run of the same sweep finished, execute the rest on the chosen executor, and report."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from vega_lab.config import Settings, get_settings
from vega_lab.errors import SweepSpecError
from vega_lab.experiments.executors import Executor, get_executor
from vega_lab.experiments.runner import RunResult, RunTask, display_path, plan_run
from vega_lab.experiments.spec import SweepSpec, load_spec
from vega_lab.experiments.store import RunRow, open_store


@dataclass
class SweepResult:
    sweep_id: str
    executor: str
    workers: int
    isolation: str = "fresh"
    results: list[RunResult] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # run ids reused from an earlier run
    wall_s: float = 0.0
    report_path: str | None = None

    @property
    def failed(self) -> list[RunResult]:
        return [r for r in self.results if r.status == "failed"]

    @property
    def finished(self) -> list[RunResult]:
        return [r for r in self.results if r.status == "finished"]

    def to_dict(self) -> dict[str, object]:
        return {
            "sweep_id": self.sweep_id,
            "executor": self.executor,
            "workers": self.workers,
            "isolation": self.isolation,
            "wall_s": round(self.wall_s, 3),
            "finished": len(self.finished),
            "failed": len(self.failed),
            "skipped": len(self.skipped),
            "runs": [r.to_dict() for r in self.results],
            "report": self.report_path,
        }


def run_sweep(
    spec_path: str | Path,
    *,
    executor: str | None = None,
    workers: int | None = None,
    rerun: bool = False,
    report: bool = True,
    progress: bool = True,
    settings: Settings | None = None,
) -> SweepResult:
    """Execute a sweep spec; failing runs are recorded and the rest continue."""
    settings = settings or get_settings()
    spec, notebook = load_spec(spec_path)
    if spec.timeout_s is not None:
        settings = settings.model_copy(update={"run_timeout_s": spec.timeout_s})
    ex = get_executor(
        executor or spec.executor, workers=workers or spec.workers or settings.sweep_workers
    )
    isolation = _apply_isolation(ex, spec, Path(spec_path).name)
    sweep_id = str(spec.name)
    first_seed = spec.seed_list()[0]  # warm kernels: the first template starts while planning
    with ex.prepared(str(settings.home), settings.results_db_url, first_seed):
        planned: list[tuple[RunRow, RunTask]] = [
            plan_run(notebook, params, seed, sweep_id=sweep_id, executor=ex.name, settings=settings)
            for params, seed in spec.expand()
        ]  # validates every run before anything is written

        store = open_store(settings.results_db_url)
        store.upsert_sweep(
            sweep_id, display_path(notebook, settings.home), spec.model_dump(mode="json")
        )
        earlier = {r.key: r for r in store.find_runs(sweep_id=sweep_id)}
        todo: list[tuple[RunRow, RunTask]] = []
        skipped: list[str] = []
        stale: list[str] = []
        for row, task in planned:
            old = earlier.get(row.key)
            if old is not None and old.status == "finished" and not rerun:
                skipped.append(old.id)
                continue
            if old is not None:
                stale.append(old.id)
            todo.append((row, task))
        store.delete_runs(stale)
        store.add_runs([row for row, _ in todo])

        bar = None
        if progress and todo:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(todo), desc=f"sweep {sweep_id}", unit="run")
        start = time.perf_counter()
        try:
            results = ex.run(
                [t for _, t in todo], on_result=(lambda _r: bar.update(1)) if bar else None
            )
        finally:
            if bar is not None:
                bar.close()
        out = SweepResult(
            sweep_id=sweep_id,
            executor=ex.name,
            workers=ex.workers,
            isolation=isolation,
            results=results,
            skipped=skipped,
            wall_s=time.perf_counter() - start,
        )
    if report:
        from vega_lab.experiments.report import write_sweep_report

        out.report_path = str(write_sweep_report(sweep_id, settings=settings))
    return out


def _apply_isolation(ex: Executor, spec: SweepSpec, filename: str) -> str:
    """Set the spec's ``isolation``/``preload`` on the executor; the default is the executor's
    first (``warm`` for local; ray runs are always fresh)."""
    offered: tuple[str, ...] = getattr(ex, "isolations", ("fresh",))
    wanted = spec.isolation or offered[0]
    if wanted not in offered:
        raise SweepSpecError(
            f"{filename}: isolation {wanted!r} is not available with executor {ex.name!r} "
            f"(it offers: {', '.join(offered)})",
            "use `executor: local` for warm kernels, or drop `isolation:`",
        )
    if spec.preload is not None and wanted != "warm":
        raise SweepSpecError(f"{filename}: `preload:` applies to `isolation: warm` only")
    if len(offered) > 1:
        ex.isolation = wanted  # type: ignore[attr-defined]
        ex.preload = None if spec.preload is None else tuple(spec.preload)  # type: ignore[attr-defined]
    return wanted
