"""`vega-lab bench ...`: benchmark programs that run the competitor and us side by side in one
process; the table (and anything a library prints) goes to stderr, the JSON result to stdout
(`BenchCommand`), so `vega-lab bench chat | jq` works and the terminal still shows the table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vega_lab.cli.common import BenchCommand, Typer, emit_json

bench = Typer(
    command_cls=BenchCommand,
    help="Benchmark programs: side-by-side timings (stderr), the JSON result (stdout).",
    no_args_is_help=True,
)


@bench.command("sweep")
def bench_sweep(
    workers: Annotated[int, typer.Option(min=1, help="Parallel workers in both sweeps.")] = 2,
    repeats: Annotated[int, typer.Option(min=1, help="Alternated repetitions (median).")] = 3,
    epochs: Annotated[int, typer.Option(min=1, help="Epochs per run.")] = 5,
) -> None:
    """The same 4-run sweep with fresh and with warm kernels: per-run overhead, sweep time."""
    from vega_lab.benchmarks.sweep_workers import bench_sweep_isolation

    out = bench_sweep_isolation(workers=workers, repeats=repeats, epochs=epochs)

    def say(line: str) -> None:
        typer.echo(line, err=True)

    say(
        f"4-run sweep of experiments/centralized_baseline.ipynb ({epochs} epochs, {workers} "
        f"workers), median of {repeats}; load average {out['load_avg_1min']} "
        f"on {out['cpus']} CPUs:"
    )
    say(f"  {'':<7}{'sweep s':>9}{'run s':>8}{'cells s':>9}{'overhead s':>12}   sweeps")
    for mode in ("fresh", "warm"):
        say(
            f"  {mode:<7}{out[f'{mode}_sweep_s']:>9.1f}{out[f'{mode}_run_s']:>8.2f}"
            f"{out[f'{mode}_cells_s']:>9.2f}{out[f'{mode}_overhead_s']:>12.2f}"
            f"   {out['all_sweep_s'][mode]}"
        )
    say(
        f"  speed-up {out['speedup']:.2f}x; CPU s per sweep {out['fresh_cpu_s']:.0f} vs "
        f"{out['warm_cpu_s']:.0f}; warm template start {out['template_start_s']:.1f} s "
        f"(once per sweep and hash seed); same results: {out['same_results']}"
    )
    emit_json(out)


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
    emit_json(out)


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
    emit_json(out)


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
    emit_json(out)


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
    emit_json(out)


@bench.command("chat")
def bench_chat(
    rounds: Annotated[int, typer.Option(min=1, help="Interleaved rounds (median).")] = 5,
    max_tokens: Annotated[int, typer.Option(min=8, help="Tokens per completion.")] = 64,
    messages: Annotated[int, typer.Option(min=10, help="Messages per store writer.")] = 500,
) -> None:
    """The embedded model through vega_lab vs llama.cpp directly; TTFT; store writes/s."""
    from vega_lab.benchmarks.chat import bench_chat as run

    out = run(rounds=rounds, max_tokens=max_tokens, store_messages=messages)
    typer.echo(
        f"{out['model']}, {out['threads']} threads, greedy {max_tokens} tokens, "
        f"median of {rounds} interleaved rounds:"
    )
    typer.echo(f"  llama.cpp direct (xllamacpp in process)  {out['direct_tok_s']:7.1f} tok/s")
    typer.echo(
        f"  vega_lab, embedded server (HTTP) + store  {out['vega_tok_s']:7.1f} tok/s"
        f"   overhead {out['overhead']:+.1%}"
    )
    typer.echo(
        f"  vega_lab, in process + store             {out['vega_inprocess_tok_s']:7.1f} tok/s"
        f"   overhead {out['overhead_inprocess']:+.1%}"
    )
    typer.echo(f"  time to first token (server, streamed)   {out['ttft_s'] * 1000:7.1f} ms")
    typer.echo(
        f"  store writes: 1 process {out['store_msgs_per_s_1proc']:.0f} msg/s, "
        f"4 processes {out['store_msgs_per_s_4proc']:.0f} msg/s ({messages} each)"
    )
    emit_json(out)


@bench.command("multimodal")
def bench_multimodal(
    part: Annotated[
        list[str] | None,
        typer.Option(help="Only these parts: clip, index, whisper, fingerprint, pdf, yolo."),
    ] = None,
    quick: Annotated[bool, typer.Option(help="Tiny sizes: a smoke run, not figures.")] = False,
) -> None:
    """CLIP, index, Whisper, PDF, fingerprint and YOLO figures, each beside its competitor."""
    from vega_lab.benchmarks.multimodal import bench_multimodal as run

    out = run(part, quick=quick, on_part=lambda name: typer.echo(f"[{name}] ...", err=True))
    typer.echo(f"{'figure':<40}{'value':>30}")
    for name, value in out["headline"].items():
        typer.echo(f"{name:<40}{_fmt(value):>30}")
    typer.echo(f"seconds per part: {out['seconds']}")
    emit_json(out)


@bench.command("secagg")
def bench_secagg(
    clients: Annotated[int, typer.Option(min=2, help="Clients in the round.")] = 100,
    dropout: Annotated[
        float, typer.Option(min=0.0, max=0.9, help="Fraction dropping after sharing keys.")
    ] = 0.3,
    params: Annotated[int, typer.Option(min=1, help="Parameters per update.")] = 100_000,
    repeats: Annotated[int, typer.Option(min=1, help="Timed vega/plain rounds (median).")] = 3,
    num_shares: Annotated[
        int | None, typer.Option(help="Share holders per client (default: from N, dropout).")
    ] = None,
    threshold: Annotated[
        int | None, typer.Option(help="Shares to reconstruct (default: a majority).")
    ] = None,
    flower: Annotated[bool, typer.Option(help="Also run Flower's SecAggPlusWorkflow.")] = True,
) -> None:
    """One secure-aggregation round (SecAgg+) vs plain aggregation and Flower's workflow."""
    from vega_lab.benchmarks.secagg import bench_secagg as run
    from vega_lab.benchmarks.secagg import report_lines

    out = run(
        clients=clients, dropout=dropout, params=params, flower=flower, repeats=repeats,
        num_shares=num_shares, threshold=threshold,
    )  # fmt: skip
    for line in report_lines(out):
        typer.echo(line, err=True)
    emit_json(out)


@bench.command("robustness")
def bench_robustness(
    quick: Annotated[bool, typer.Option(help="A tiny matrix: a smoke run, not figures.")] = False,
    clients: Annotated[int | None, typer.Option(min=2, help="Clients (default 100).")] = None,
    rounds: Annotated[int | None, typer.Option(min=1, help="Rounds (default 10).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of data, model and attackers.")] = 0,
    threads: Annotated[int, typer.Option(min=0, help="torch threads (0: torch's default).")] = 1,
    report: Annotated[
        Path | None, typer.Option(help="Also write the tables as markdown to this file.")
    ] = None,
) -> None:
    """Aggregator x attack x malicious fraction on digits: final accuracy, timed as a whole."""
    from vega_lab.benchmarks.robustness import bench_robustness as run
    from vega_lab.benchmarks.robustness import markdown, report_lines

    seen: set[tuple] = set()

    def progress(cell: dict) -> None:  # one line per run (a clean run fills a whole column)
        attack = "(no attacker)" if cell["shared"] else cell["attack"]
        key = (cell["aggregator"], cell["malicious_fraction"], attack)
        if key not in seen:
            seen.add(key)
            typer.echo(
                f"  {cell['aggregator']:<14}{attack:<14}{cell['malicious_fraction']:>4.0%}"
                f"  {cell['status']:<8}{cell['seconds']:6.1f} s",
                err=True,
            )

    out = run(
        quick=quick, clients=clients, rounds=rounds, seed=seed, threads=threads, on_cell=progress
    )
    for line in report_lines(out):
        typer.echo(line, err=True)
    if report is not None:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(markdown(out), encoding="utf-8")
    emit_json(out)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_fmt(v)}" for k, v in value.items())[:30]
    if isinstance(value, list):
        return " ".join(_fmt(v) for v in value)[:30]
    return str(value)
