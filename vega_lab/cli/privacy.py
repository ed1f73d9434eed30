"""`vega-lab privacy ...`: accounting (epsilon, noise) and audits, thin faces on
`vega_lab.privacy`."""

from __future__ import annotations

from typing import Annotated

import typer

from vega_lab.cli.common import JsonOpt, Typer, emit_json

privacy = Typer(
    help="Differential privacy: epsilon of a DP-SGD run, the noise for a target epsilon.",
    no_args_is_help=True,
)

QOpt = Annotated[float, typer.Option("--sample-rate", help="Poisson rate q = batch / dataset.")]
DeltaOpt = Annotated[float, typer.Option("--delta", help="Target delta, e.g. 1e-5 (< 1/n).")]
StepsOpt = Annotated[int | None, typer.Option("--steps", help="Noisy steps T (or --epochs).")]
EpochsOpt = Annotated[float | None, typer.Option("--epochs", help="steps = ceil(epochs / q).")]
AccountantOpt = Annotated[str, typer.Option("--accountant", help="rdp | prv (tight) | gdp.")]


@privacy.command("epsilon")
def privacy_epsilon(
    sample_rate: QOpt,
    noise: Annotated[float, typer.Option("--noise", help="Noise multiplier sigma.")],
    delta: DeltaOpt,
    steps: StepsOpt = None,
    epochs: EpochsOpt = None,
    accountant: AccountantOpt = "prv",
    as_json: JsonOpt = False,
) -> None:
    """Epsilon at DELTA after DP-SGD with Poisson rate Q, noise SIGMA, T steps (or E epochs)."""
    from vega_lab.privacy.accounting import guarantee

    kw = {"steps": steps, "epochs": epochs, "delta": delta, "accountant": accountant}
    g = guarantee(sample_rate, noise, **kw)
    typer.echo(str(g))
    if as_json:
        emit_json(g.to_dict())


@privacy.command("noise")
def privacy_noise(
    epsilon: Annotated[float, typer.Option("--epsilon", help="Target epsilon.")],
    sample_rate: QOpt,
    delta: DeltaOpt,
    steps: StepsOpt = None,
    epochs: EpochsOpt = None,
    accountant: AccountantOpt = "prv",
    as_json: JsonOpt = False,
) -> None:
    """The smallest noise multiplier keeping epsilon at DELTA within the target EPSILON."""
    from vega_lab.privacy.accounting import guarantee, noise_multiplier_for

    kw = {"steps": steps, "epochs": epochs, "delta": delta, "accountant": accountant}
    sigma = noise_multiplier_for(epsilon, sample_rate, **kw)
    g = guarantee(sample_rate, sigma, **kw)
    typer.echo(f"noise multiplier {sigma:.4f} for target epsilon {epsilon:g}: {g}")
    if as_json:
        emit_json({**g.to_dict(), "target_epsilon": epsilon})


@privacy.command("audit")
def privacy_audit(
    epsilon: Annotated[float, typer.Option("--epsilon", help="Claimed epsilon (sets the noise).")],
    canaries: Annotated[int, typer.Option("--canaries", help="Canaries per training run.")] = 48,
    trials: Annotated[
        int, typer.Option("--trials", help="Training runs; 1 = the one-run audit.")
    ] = 2000,
    threat: Annotated[
        str, typer.Option("--threat", help="white-box (gradient canaries) | black-box (input).")
    ] = "white-box",
    delta: Annotated[float, typer.Option("--delta", help="delta of the claim.")] = 1e-5,
    confidence: Annotated[float, typer.Option(help="Confidence of the bound.")] = 0.95,
    bound: Annotated[
        str, typer.Option(help="auto | gdp | eps-delta (the multi-run bound of the verdict).")
    ] = "auto",
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
        emit_json(report.as_dict())
