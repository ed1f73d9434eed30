"""HTML reports: one per run (executed notebook, parameters, metrics, charts, failure) and one
per sweep (runs table, failures, curves per grid point), written under ``reports/``.

Everything is inline SVG and static HTML so a report opens offline and can be archived.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from vega_lab.charts import final_bars, metric_curves, notebook_html, to_svg
from vega_lab.config import Settings, get_settings
from vega_lab.errors import RunNotFoundError
from vega_lab.experiments.store import ResultsStore, RunRow, open_store

_CSS = """
body{font-family:system-ui,-apple-system,sans-serif;margin:2rem;color:#222;max-width:1200px}
table{border-collapse:collapse;margin:.5rem 0 1.5rem;font-size:.9rem}
th,td{border:1px solid #ddd;padding:.25rem .6rem;text-align:left}th{background:#f4f4f4}
.finished{color:#17803d;font-weight:600}.failed{color:#b42318;font-weight:600}
.pending,.running{color:#946200}pre{background:#fbf1f0;padding:1rem;overflow:auto;font-size:.8rem}
.charts{display:flex;flex-wrap:wrap;gap:1rem}iframe{width:100%;height:900px;border:1px solid #ddd}
"""


def _page(title: str, body: str) -> str:
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
        f"</title><style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>{body}"
        "</body></html>"
    )


def _table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, escape=True, na_rep="", float_format=lambda v: f"{v:.4g}")


def _kv(items: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in items.items()
    )
    return f"<table>{rows}</table>"


def _status(status: str) -> str:
    return f"<span class='{html.escape(status)}'>{html.escape(status)}</span>"


def _notebook_html(ipynb: Path, target: Path) -> bool:
    """Convert the executed notebook (offline HTML, no CDN scripts); False when it does not
    exist (the run never started)."""
    if not ipynb.is_file():
        return False
    target.write_text(notebook_html(ipynb), encoding="utf-8")
    return True


def write_run_report(
    run_id: str, *, settings: Settings | None = None, store: ResultsStore | None = None
) -> Path:
    settings = settings or get_settings()
    store = store or open_store(settings.results_db_url)
    run = store.get_run(run_id)
    out_dir = settings.reports_path / "runs" / run.id
    out_dir.mkdir(parents=True, exist_ok=True)
    parts = [
        _kv(
            {
                "status": run.status,
                "notebook": run.notebook,
                "sweep": run.sweep_id or "",
                "seed": run.seed,
                "executor": run.executor,
                "git commit": run.git_commit,
                "duration (s)": f"{run.duration_s:.2f}" if run.duration_s else "",
                "created (UTC)": run.created_at,
            }
        ).replace(f"<td>{run.status}</td>", f"<td>{_status(run.status)}</td>")
    ]
    parts.append("<h2>Parameters</h2>" + _kv(run.parameters or {}))
    if run.status == "failed":
        parts.append(
            f"<h2>Failure</h2><p>{html.escape(run.error_message or '')}</p>"
            f"<pre>{html.escape(run.error_traceback or '')}</pre>"
        )
    metrics = store.metrics_frame(run_ids=[run.id])
    finals = metrics[metrics["kind"] == "final"]
    if not finals.empty:
        parts.append("<h2>Final metrics</h2>" + _table(finals[["name", "value"]]))
    steps = metrics[metrics["kind"] == "step"].assign(run=run.id)
    if not steps.empty:
        charts = "".join(
            f"<div>{to_svg(metric_curves(steps, m))}</div>" for m in sorted(steps["name"].unique())
        )
        parts.append(f"<h2>Curves</h2><div class='charts'>{charts}</div>")
    for name, table in store.tables(run.id).items():
        parts.append(f"<h2>Table: {html.escape(name)}</h2>" + _table(table))
    if run.environment:
        parts.append(
            "<h2>Environment</h2>"
            + _kv(
                {
                    "python": run.environment.get("python"),
                    "platform": run.environment.get("platform"),
                    **{k: v for k, v in run.environment.get("key_packages", {}).items() if v},
                }
            )
        )
    if run.output_path and _notebook_html(Path(run.output_path), out_dir / "notebook.html"):
        parts.append(
            "<h2>Executed notebook</h2><p><a href='notebook.html'>open</a> · "
            f"<a href='{html.escape(Path(run.output_path).name)}'>.ipynb</a></p>"
            "<iframe src='notebook.html'></iframe>"
        )
    path = out_dir / "report.html"
    path.write_text(_page(f"Run {run.id}", "".join(parts)), encoding="utf-8")
    return path


def _report_is_current(run: RunRow, path: Path) -> bool:
    """True when ``path`` was written after ``run`` ended (timestamps are naive UTC)."""
    if run.finished_at is None or not path.is_file():
        return False
    written = datetime.fromtimestamp(path.stat().st_mtime, UTC).replace(tzinfo=None)
    return written >= run.finished_at


def _config_label(run: RunRow, varying: list[str]) -> str:
    return ", ".join(f"{k}={run.parameters.get(k)}" for k in varying) or "all"


def write_sweep_report(
    sweep_id: str,
    *,
    settings: Settings | None = None,
    store: ResultsStore | None = None,
    run_reports: bool = True,
) -> Path:
    settings = settings or get_settings()
    store = store or open_store(settings.results_db_url)
    sweep = next((s for s in store.sweeps() if s.id == sweep_id), None)
    if sweep is None:
        raise RunNotFoundError(
            f"no sweep {sweep_id!r} in the results store",
            "list sweeps with `vega-lab runs --sweeps`",
        )
    runs = sorted(store.find_runs(sweep_id=sweep_id), key=lambda r: (r.created_at, r.id))
    varying = sorted(sweep.spec.get("grid", {}))
    labels = {r.id: _config_label(r, varying) for r in runs}
    out_dir = settings.reports_path / "sweeps" / sweep_id
    out_dir.mkdir(parents=True, exist_ok=True)

    frame = store.runs_frame(sweep_id=sweep_id)
    if run_reports:  # a finished run never changes: only (re)write reports that are missing or old
        for r in runs:
            if not _report_is_current(r, settings.reports_path / "runs" / r.id / "report.html"):
                write_run_report(r.id, settings=settings, store=store)
    counts = frame["status"].value_counts().to_dict() if not frame.empty else {}
    parts = [
        _kv(
            {
                "notebook": sweep.notebook,
                "executor": sweep.spec.get("executor"),
                "grid": sweep.spec.get("grid"),
                "fixed": sweep.spec.get("parameters"),
                "seeds": sweep.spec.get("seeds") or sweep.spec.get("repeats"),
                "runs": len(runs),
                **{f"{k} runs": v for k, v in counts.items()},
            }
        )
    ]
    if not frame.empty:
        shown = frame.drop(columns=["sweep_id", "notebook", "created_at"]).copy()
        shown["run_id"] = [f"RUNLINK:{rid}" for rid in shown["run_id"]]
        table = _table(shown)
        for rid in frame["run_id"]:
            table = table.replace(
                f"RUNLINK:{rid}", f"<a href='../../runs/{rid}/report.html'>{rid}</a>"
            )
        for st in ("finished", "failed", "pending", "running"):
            table = table.replace(f"<td>{st}</td>", f"<td>{_status(st)}</td>")
        parts.append("<h2>Runs</h2>" + table)
    failed = [r for r in runs if r.status == "failed"]
    if failed:
        parts.append(
            "<h2>Failures</h2>"
            + "".join(
                f"<h3><a href='../../runs/{r.id}/report.html'>{r.id}</a> "
                f"({html.escape(labels[r.id])}, seed {r.seed})</h3>"
                f"<pre>{html.escape(r.error_traceback or r.error_message or '')}</pre>"
                for r in failed
            )
        )
    metrics = store.metrics_frame(sweep_id=sweep_id)
    if not metrics.empty:
        metrics["config"] = metrics["run_id"].map(labels)
        steps = metrics[metrics["kind"] == "step"]
        finals = metrics[metrics["kind"] == "final"]
        charts = [metric_curves(steps, m, color="config") for m in sorted(steps["name"].unique())]
        charts += [
            final_bars(finals[finals["name"] == m], m) for m in sorted(finals["name"].unique())
        ]
        svgs = "".join(f"<div>{to_svg(c)}</div>" for c in charts)
        parts.append(
            f"<h2>Metrics (mean over seeds, band = min..max)</h2><div class='charts'>{svgs}</div>"
        )
    path = out_dir / "report.html"
    path.write_text(_page(f"Sweep {sweep_id}", "".join(parts)), encoding="utf-8")
    return path


def write_report(run_or_sweep: str, *, settings: Settings | None = None) -> Path:
    """Report for a run id or a sweep id, whichever exists."""
    settings = settings or get_settings()
    store = open_store(settings.results_db_url)
    if any(s.id == run_or_sweep for s in store.sweeps()):
        return write_sweep_report(run_or_sweep, settings=settings, store=store)
    try:
        return write_run_report(run_or_sweep, settings=settings, store=store)
    except RunNotFoundError:
        raise RunNotFoundError(
            f"no run or sweep named {run_or_sweep!r} in the results store",
            "list them with `vega-lab runs` or `vega-lab runs --sweeps`",
        ) from None
