"""The ``vega-lab`` command: a thin face on the library (groups: `bench`, `privacy`, `media`).

Every command has ``--help``; bad input exits non-zero with one ``error:`` line naming what
was wrong and what to do; ``--json`` prints exactly one JSON document on stdout and everything
else on stderr (`vega_lab.cli.common`). Shell completion is typer's (``--install-completion``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from vega_lab.cli.common import JsonOpt, Typer
from vega_lab.cli.common import emit_json as _emit_json
from vega_lab.errors import VegaError

app = Typer(
    name="vega-lab",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="vega_lab: a Jupyter-centric research workbench for private and multimodal ML.",
)


def _parse_params(args: list[str]) -> dict[str, Any]:
    from vega_lab.experiments.parameters import parse_cli_value

    params: dict[str, Any] = {}
    i = 0
    while i < len(args):
        if args[i] in ("-p", "--param"):
            if len(args) - i < 3:
                raise VegaError(f"{args[i]} needs a NAME and a VALUE", "e.g. -p lr 0.1")
            params[args[i + 1]] = parse_cli_value(args[i + 2])
            i += 3
        else:
            raise VegaError(f"unexpected argument {args[i]!r}", "parameters go as -p NAME VALUE")
    return params


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def run(
    ctx: typer.Context,
    notebook: Annotated[Path, typer.Argument(help="Parameterized notebook (.ipynb).")],
    seed: Annotated[int | None, typer.Option(help="Seed (default: VEGA_SEED or 0).")] = None,
    report: Annotated[bool, typer.Option(help="Write the HTML report.")] = True,
    as_json: JsonOpt = False,
) -> None:
    """Run NOTEBOOK through Papermill with -p NAME VALUE parameters (repeatable) and record it."""
    from vega_lab.experiments import run_notebook

    params = _parse_params(list(ctx.args))
    result = run_notebook(notebook, params, seed)
    out = result.to_dict()
    if report:
        from vega_lab.experiments import write_run_report  # altair: slow to import, load late

        out["report"] = str(write_run_report(result.run_id))
    if as_json:
        _emit_json(out)
    else:
        typer.echo(f"run {result.run_id}: {result.status} in {result.duration_s:.1f} s")
        typer.echo(f"  notebook: {result.output_path}")
        if report:
            typer.echo(f"  report:   {out['report']}")
        if result.error_message:
            typer.echo(f"  error:    {result.error_message} (cell {result.error_cell})")
    if result.status != "finished":
        raise typer.Exit(1)


@app.command()
def sweep(
    spec: Annotated[Path, typer.Argument(help="Sweep spec (YAML).")],
    executor: Annotated[str | None, typer.Option(help="local | ray (default: the spec's).")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="Parallel runs.")] = None,
    rerun: Annotated[bool, typer.Option(help="Re-run runs that already finished.")] = False,
    report: Annotated[bool, typer.Option(help="Write HTML reports.")] = True,
    as_json: JsonOpt = False,
) -> None:
    """Run every grid point x seed of SPEC; failures are recorded and the rest continue."""
    from vega_lab.experiments import run_sweep

    result = run_sweep(
        spec, executor=executor, workers=workers, rerun=rerun, report=report, progress=not as_json
    )
    if as_json:
        _emit_json(result.to_dict())
    else:
        typer.echo(
            f"sweep {result.sweep_id} on {result.executor} x{result.workers}: "
            f"{len(result.finished)} finished, {len(result.failed)} failed, "
            f"{len(result.skipped)} skipped, {result.wall_s:.1f} s"
        )
        for r in result.failed:
            typer.echo(f"  failed {r.run_id}: {r.error_message}")
        if result.report_path:
            typer.echo(f"  report: {result.report_path}")
    if result.failed:
        raise typer.Exit(1)


@app.command()
def runs(
    sweep_id: Annotated[str | None, typer.Option("--sweep", help="Only this sweep.")] = None,
    status: Annotated[str | None, typer.Option(help="pending|running|finished|failed")] = None,
    notebook: Annotated[str | None, typer.Option(help="Notebook path contains this.")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 50,
    sweeps: Annotated[bool, typer.Option("--sweeps", help="List sweeps instead.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """List recorded runs (newest first) or sweeps."""
    from vega_lab.experiments.store import RUN_STATUSES, open_store

    store = open_store()
    if sweeps:
        rows = [
            {
                "sweep_id": s.id,
                "notebook": s.notebook,
                "updated_at": s.updated_at,
                "runs": len(store.find_runs(sweep_id=s.id)),
            }
            for s in store.sweeps()
        ]
    else:
        if status is not None and status not in RUN_STATUSES:
            raise VegaError(f"unknown status {status!r}", f"use one of {', '.join(RUN_STATUSES)}")
        frame = store.runs_frame(sweep_id=sweep_id, status=status)
        if notebook:
            frame = frame[frame["notebook"].str.contains(notebook, regex=False)]
        rows = frame.head(limit).to_dict("records")
        rows = [{k: v for k, v in r.items() if v == v and v is not None} for r in rows]  # drop NaN
    if as_json:
        _emit_json(rows)
        return
    if not rows:
        typer.echo("no runs recorded yet" if not sweeps else "no sweeps recorded yet")
        return
    import pandas as pd

    typer.echo(pd.DataFrame(rows).to_string(index=False, max_colwidth=40))


@app.command()
def report(
    run_or_sweep: Annotated[str, typer.Argument(help="A run id or a sweep id.")],
    as_json: JsonOpt = False,
) -> None:
    """(Re)write the HTML report of a run or a sweep and print its path."""
    from vega_lab.experiments import write_report

    path = write_report(run_or_sweep)
    _emit_json({"report": str(path)}) if as_json else typer.echo(str(path))


@app.command()
def lab(
    port: Annotated[
        int | None, typer.Option(help="Port (default VEGA_LAB_PORT; 0 = any free).")
    ] = None,
    open_path: Annotated[str, typer.Option(help="Notebook to open.")] = "notebooks/00_tour.ipynb",
) -> None:
    """Start JupyterLab with real-time collaboration on 127.0.0.1 with a token; print the URL."""
    from vega_lab.servers import start_lab

    _serve(start_lab(port=port, open_path=open_path), "JupyterLab")


@app.command()
def dashboards(
    port: Annotated[int | None, typer.Option(help="Port (default VEGA_DASHBOARDS_PORT).")] = None,
) -> None:
    """Serve the Voila dashboards in widgets/ on 127.0.0.1 with a token; print the URL."""
    from vega_lab.servers import start_dashboards

    _serve(start_dashboards(port=port), "Voila dashboards")


def _add_groups() -> None:
    from vega_lab.cli import chat, info
    from vega_lab.cli.bench import bench
    from vega_lab.cli.media import media
    from vega_lab.cli.privacy import privacy

    info.register(app)
    chat.register(app)

    app.add_typer(privacy, name="privacy")
    app.add_typer(bench, name="bench")
    app.add_typer(media, name="media")


_add_groups()


def _serve(handle: Any, what: str) -> None:
    import signal

    # A shell starts background jobs (`nohup ... &`) with SIGINT ignored, and Python then never
    # installs its handler: Ctrl-C / SIGINT would not stop the server. Ask for it explicitly.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    typer.echo(f"{what} is up (log: {handle.log_path}). Open:\n\n    {handle.browse_url}\n")
    typer.echo("Press Ctrl-C to stop.")
    try:
        code = handle.wait()
    except KeyboardInterrupt:
        code = 0
    finally:
        handle.stop()
    raise typer.Exit(code)


def main() -> None:
    """Console-script entry: VegaErrors become one line on stderr and exit code 2."""
    try:
        app()
    except VegaError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
