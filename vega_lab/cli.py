"""The ``vega-lab`` command: a thin face on the library.

Every command has ``--help``; bad input exits non-zero with one ``error:`` line naming what
was wrong and what to do; ``--json`` makes the last line of output machine-readable JSON.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from vega_lab.errors import VegaError

app = typer.Typer(
    name="vega-lab",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="vega_lab: a Jupyter-centric research workbench for private and multimodal ML.",
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object as the last line.")]


def _emit_json(obj: Any) -> None:
    typer.echo(json.dumps(obj, default=str))


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


privacy = typer.Typer(
    help="Differential privacy: epsilon of a DP-SGD run, the noise for a target epsilon.",
    no_args_is_help=True,
)
app.add_typer(privacy, name="privacy")

SampleRateOpt = Annotated[
    float, typer.Option("--sample-rate", help="Poisson rate q = batch size / dataset size.")
]
DeltaOpt = Annotated[float, typer.Option("--delta", help="Target delta, e.g. 1e-5 (< 1/n).")]
StepsOpt = Annotated[int | None, typer.Option("--steps", help="Noisy steps T (or --epochs).")]
EpochsOpt = Annotated[
    float | None, typer.Option("--epochs", help="Epochs; steps = ceil(epochs / q) (or --steps).")
]
AccountantOpt = Annotated[
    str | None, typer.Option("--accountant", help="rdp | prv | gdp (default: prv, tight).")
]


@privacy.command("epsilon")
def privacy_epsilon(
    sample_rate: SampleRateOpt,
    noise: Annotated[float, typer.Option("--noise", help="Noise multiplier sigma.")],
    delta: DeltaOpt,
    steps: StepsOpt = None,
    epochs: EpochsOpt = None,
    accountant: AccountantOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Epsilon at DELTA after DP-SGD with Poisson rate Q, noise SIGMA, T steps (or E epochs)."""
    from vega_lab.privacy.accounting import DEFAULT_ACCOUNTANT, guarantee

    g = guarantee(
        sample_rate,
        noise,
        steps=steps,
        epochs=epochs,
        delta=delta,
        accountant=accountant or DEFAULT_ACCOUNTANT,
    )
    typer.echo(str(g))
    if as_json:
        _emit_json(g.to_dict())


@privacy.command("noise")
def privacy_noise(
    epsilon: Annotated[float, typer.Option("--epsilon", help="Target epsilon.")],
    sample_rate: SampleRateOpt,
    delta: DeltaOpt,
    steps: StepsOpt = None,
    epochs: EpochsOpt = None,
    accountant: AccountantOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The smallest noise multiplier keeping epsilon at DELTA within the target EPSILON."""
    from vega_lab.privacy.accounting import DEFAULT_ACCOUNTANT, guarantee, noise_multiplier_for

    name = accountant or DEFAULT_ACCOUNTANT
    sigma = noise_multiplier_for(
        epsilon, sample_rate, steps=steps, epochs=epochs, delta=delta, accountant=name
    )
    g = guarantee(sample_rate, sigma, steps=steps, epochs=epochs, delta=delta, accountant=name)
    typer.echo(f"noise multiplier {sigma:.4f} for target epsilon {epsilon:g}: {g}")
    if as_json:
        _emit_json({**g.to_dict(), "target_epsilon": epsilon})


@privacy.command("audit")
def privacy_audit(
    epsilon: Annotated[float, typer.Option("--epsilon", help="Claimed epsilon (sets the noise).")],
    canaries: Annotated[int, typer.Option("--canaries", help="Canaries per training run.")] = 1,
    trials: Annotated[
        int, typer.Option("--trials", help="Training runs; 1 = the one-run audit.")
    ] = 4000,
    threat: Annotated[
        str, typer.Option("--threat", help="white-box (gradient canaries) | black-box (input).")
    ] = "white-box",
    delta: Annotated[float, typer.Option("--delta", help="delta of the claim.")] = 1e-5,
    confidence: Annotated[float, typer.Option(help="Confidence of the bound.")] = 0.95,
    bound: Annotated[str, typer.Option(help="gdp | eps-delta (multi-run bound).")] = "gdp",
    steps: Annotated[int, typer.Option(help="DP-SGD steps per run.")] = 10,
    sample_rate: Annotated[float, typer.Option(help="Poisson sampling rate q.")] = 1.0,
    noise_scale: Annotated[
        float, typer.Option(help="Plant a bug: add this fraction of the claimed noise.")
    ] = 1.0,
    seed: Annotated[int, typer.Option(help="Seed of the whole audit.")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Audit DP-SGD: train TRIALS runs with CANARIES canaries, bound epsilon from below, and
    print the verdict (DP VIOLATION when the bound exceeds the claim)."""
    from tqdm.auto import tqdm

    from vega_lab.privacy.audit import run_audit

    with tqdm(total=trials, desc="audit runs", unit="run", disable=as_json) as bar:
        report = run_audit(
            epsilon=epsilon, canaries=canaries, trials=trials, threat=threat, delta=delta,
            confidence=confidence, bound=bound, steps=steps, sample_rate=sample_rate,
            noise_scale=noise_scale, seed=seed,
            progress=lambda done, total: bar.update(done - bar.n),
        )  # fmt: skip
    typer.echo(report.summary())
    if as_json:
        _emit_json(report.as_dict())


bench = typer.Typer(
    help="Benchmark programs: side-by-side timings, a JSON last line.", no_args_is_help=True
)
app.add_typer(bench, name="bench")


@bench.command("sweep")
def bench_sweep(
    workers: Annotated[int, typer.Option(min=2, help="Parallel workers to compare with 1.")] = 2,
    repeats: Annotated[int, typer.Option(min=1, help="Alternated repetitions (median).")] = 3,
    epochs: Annotated[int, typer.Option(min=1, help="Epochs per run.")] = 5,
) -> None:
    """The same 4-run sweep with 1 worker and with N: medians and the speed-up."""
    from vega_lab.benchmarks.sweep_workers import bench_sweep_workers

    out = bench_sweep_workers(workers=workers, repeats=repeats, epochs=epochs)
    typer.echo(
        f"4-run sweep of experiments/centralized_baseline.ipynb ({epochs} epochs), "
        f"median of {repeats}:"
    )
    typer.echo(f"  1 worker : {out['workers1_s']:.1f} s   {out['all_s']['1']}")
    typer.echo(
        f"  {workers} workers: {out[f'workers{workers}_s']:.1f} s   {out['all_s'][str(workers)]}"
    )
    typer.echo(f"  speed-up : {out['speedup']:.2f}x")
    _emit_json(out)


@bench.command("federated")
def bench_federated(
    clients: Annotated[int, typer.Option(min=1, help="Simulated clients.")] = 10,
    rounds: Annotated[int, typer.Option(min=1, help="FedAvg rounds.")] = 3,
    repeats: Annotated[int, typer.Option(min=1, help="Timed vega_lab runs (median).")] = 3,
    flower: Annotated[bool, typer.Option(help="Also run Flower's Ray simulation.")] = True,
) -> None:
    """FedAvg on digits through vega_lab's vectorized engine and Flower's Ray simulation."""
    from vega_lab.benchmarks.federated import bench_federated as run

    out = run(clients=clients, rounds=rounds, repeats=repeats, flower=flower)
    typer.echo(
        f"FedAvg, digits, 64-32-10 MLP, {clients} clients x {rounds} rounds x 5 local epochs, "
        f"lr 0.1, batch 32 ({out['examples_processed']} example-gradients):"
    )
    typer.echo(f"  {'':<28}{'seconds':>10}{'accuracy':>10}")
    typer.echo(
        f"  {'vega_lab vectorized':<28}{out['vega_s']:>10.3f}{out['vega_acc']:>10.3f}"
        f"   (median of {repeats}; first run in process {out['vega_cold_s']:.2f} s)"
    )
    if flower:
        typer.echo(
            f"  {'Flower run_simulation (Ray)':<28}{out['flower_s']:>10.3f}"
            f"{out['flower_acc']:>10.3f}"
        )
    typer.echo(f"  {'centralized SGD, same work':<28}{out['centralized_s']:>10.3f}")
    if flower:
        typer.echo(f"  speedup (flower_s / vega_s): {out['speedup']:.1f}x")
    typer.echo(f"  compute_fraction (centralized_s / vega_s): {out['compute_fraction']:.2f}")
    _emit_json(out)


@bench.command("dp-overhead")
def bench_dp_overhead(
    dataset: Annotated[
        list[str] | None, typer.Option(help="digits and/or mnist (repeat the option).")
    ] = None,
    mode: Annotated[
        list[str] | None,
        typer.Option(help="Grad-sample modes: hooks, functorch, ew, ghost (default: all)."),
    ] = None,
    repeats: Annotated[int, typer.Option(min=1, help="Timed epochs per variant (median).")] = 5,
    batch_size: Annotated[int, typer.Option(min=1, help="Expected logical batch.")] = 64,
    threads: Annotated[int, typer.Option(min=1, help="torch threads while training.")] = 1,
) -> None:
    """One epoch of DP-SGD in each Opacus grad-sample mode vs the same epoch without DP."""
    from vega_lab.benchmarks.dp_overhead import BASELINE
    from vega_lab.benchmarks.dp_overhead import bench_dp_overhead as run
    from vega_lab.privacy.config import GRAD_SAMPLE_MODES

    modes = mode or list(GRAD_SAMPLE_MODES)
    out = run(
        datasets=dataset or ["digits"],
        modes=modes,
        repeats=repeats,
        batch_size=batch_size,
        threads=threads,
    )
    for r in out["results"]:
        typer.echo(
            f"{r['dataset']}: MLP {r['hidden']}, batch {batch_size} (Poisson, "
            f"q={r['sample_rate']:.4f}, {r['steps_per_epoch']} steps/epoch), sigma 1.0, C 1.0, "
            "SGD lr 0.1 momentum 0.9, "
            f"{threads} thread(s); one epoch, median of {repeats}:"
        )
        typer.echo(f"  {'variant':<16}{'epoch s':>10}{'DP/non-DP':>11}{'accuracy':>10}")
        for name in [BASELINE, *modes]:
            v = r["variants"][name]
            label = "non-private SGD" if name == BASELINE else f"DP-SGD {name}"
            typer.echo(
                f"  {label:<16}{v['epoch_s']:>10.4f}{v['ratio']:>10.2f}x{v['accuracy']:>10.3f}"
            )
        typer.echo(f"  epsilon after the epoch (delta 1e-5): {r['epsilon_after_epoch']:.3f}")
    _emit_json(out)


@bench.command("shadow-models")
def bench_shadow_models(
    models: Annotated[int, typer.Option(min=1, help="Shadow models to train.")] = 64,
    repeats: Annotated[int, typer.Option(min=1, help="Alternated repetitions (median).")] = 3,
    steps: Annotated[int, typer.Option(min=1, help="SGD steps per model.")] = 300,
    batch: Annotated[int, typer.Option(min=1, help="Expected Poisson batch size.")] = 32,
    lr: Annotated[float, typer.Option(help="Learning rate.")] = 0.5,
    dp: Annotated[bool, typer.Option(help="DP-SGD shadows (sequential side: Opacus).")] = False,
    noise_multiplier: Annotated[float, typer.Option(help="DP-SGD noise multiplier.")] = 1.0,
    max_grad_norm: Annotated[float, typer.Option(help="DP-SGD clipping norm.")] = 1.0,
    threads: Annotated[int, typer.Option(min=0, help="torch threads (0: torch's default).")] = 1,
) -> None:
    """Shadow models on digits trained batched (train_copies) and one after another."""
    from vega_lab.benchmarks.shadow_models import bench_shadow_models as run
    from vega_lab.benchmarks.shadow_models import report_lines

    out = run(
        models=models, repeats=repeats, steps=steps, batch=batch, lr=lr, dp=dp,
        noise_multiplier=noise_multiplier, max_grad_norm=max_grad_norm, threads=threads or None,
    )  # fmt: skip
    typer.echo("\n".join(report_lines(out)))
    _emit_json(out)


@bench.command("audit")
def bench_audit(
    trials: Annotated[int, typer.Option(min=4, help="Training runs per audit.")] = 4000,
    canaries: Annotated[int, typer.Option(min=1, help="Dirac canaries per run.")] = 48,
    steps: Annotated[int, typer.Option(min=1, help="DP-SGD steps per run.")] = 10,
    poisson: Annotated[bool, typer.Option(help="Also audit Poisson-sampled DP-SGD.")] = True,
) -> None:
    """White-box gradient-canary audits at epsilon 1, 2, 4: bound / claim, and a planted bug."""
    from vega_lab.benchmarks.audit_tightness import bench_audit as run

    out = run(trials=trials, canaries=canaries, steps=steps, poisson=poisson)
    typer.echo(
        f"white-box multi-run audits of DP-SGD (digits, 64-16-10 MLP, {steps} steps), "
        f"{trials} runs x {canaries} Dirac canaries, 95% confidence:"
    )
    typer.echo(
        f"  {'setting':<40}{'claimed':>8}{'gdp lb':>8}{'(e,d) lb':>9}{'1-run lb':>9}"
        f"{'lb/claim':>9}{'AUC':>7}{'s':>7}  verdict"
    )
    for r in out["rows"]:
        typer.echo(
            f"  {r['setting']:<40}{r['claimed_epsilon']:>8.3f}{r['gdp_lb']:>8.3f}"
            f"{r['eps_delta_lb']:>9.3f}{r['one_run_lb']:>9.3f}{r['ratio']:>9.2f}"
            f"{r['auc']:>7.3f}{r['seconds']:>7.1f}  {r['verdict']}"
        )
    typer.echo(
        f"  smallest lb/claim at q=1: {out['min_ratio']:.2f}; planted bug caught: "
        f"{out['bug_caught']}; total {out['total_s']:.0f} s"
    )
    _emit_json(out)


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
