"""`vega-lab bench shadow-models`: the shadow models of a membership-inference attack (Shokri et
al. 2017; LiRA, Carlini et al. 2022, needs dozens of them) trained two ways in one process:

- batched: all M copies in one computation (`vega_lab.privacy.audit.batched.train_copies`);
- sequential: the textbook loop, one `nn.Module` + `torch.optim.SGD` after another.

Both sides get the same work: digits, a 64-32-10 ReLU MLP, each model on its own random half of
the training split, Poisson batches (expected size ``batch``), ``steps`` SGD steps at ``lr`` on
the summed loss divided by the expected batch size (Opacus's convention), and the same initial
weights per model. With ``dp`` both sides run DP-SGD (per-example clipping, Gaussian noise): the
sequential side with Opacus's ``GradSampleModule`` + ``DPOptimizer``, the standard per-sample-
gradient loop. Timings are medians of alternated repeats; the mean test accuracy of each kind of
shadow model checks that both did the same job."""

from __future__ import annotations

import statistics
import time
import warnings
from typing import Any

import torch

from vega_lab.datasets.shipped import load_dataset, train_test_split
from vega_lab.models.threads import torch_threads
from vega_lab.privacy.audit.batched import (
    DPSGD,
    MLPShape,
    forward,
    init_params,
    member_masks,
    train_copies,
)


def _module(shape: MLPShape, flat: torch.Tensor) -> torch.nn.Sequential:
    """An ordinary ``nn.Sequential`` MLP holding the flat parameters of one copy."""
    layers: list[torch.nn.Module] = []
    views = shape.layers(flat.unsqueeze(0))
    for k, (w, b) in enumerate(views):
        lin = torch.nn.Linear(w.shape[2], w.shape[1])
        with torch.no_grad():
            lin.weight.copy_(w[0])
            lin.bias.copy_(b[0])
        layers.append(lin)
        if k < len(views) - 1:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def _flat(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def train_sequential(
    x: torch.Tensor,
    y: torch.Tensor,
    members: torch.Tensor,
    *,
    shape: MLPShape,
    theta0: torch.Tensor,
    steps: int,
    lr: float,
    sample_rate: float,
    dp: DPSGD | None = None,
    seed: int = 0,
) -> torch.Tensor:
    """The competitor: one model after another, each a plain PyTorch training loop. Returns the
    final flat parameters ``[M, P]`` (the same layout as ``train_copies``)."""
    out = []
    for m in range(members.shape[0]):
        gen = torch.Generator().manual_seed(seed * 1_000_003 + m)
        own = members[m].nonzero().flatten()
        expected = max(len(own), 1) * sample_rate
        model = _module(shape, theta0[m])
        if dp is None:
            opt = torch.optim.SGD(model.parameters(), lr=lr)
            for _ in range(steps):
                idx = own[torch.rand(len(own), generator=gen) < sample_rate]
                loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx], reduction="sum")
                opt.zero_grad(set_to_none=True)
                (loss / expected).backward()
                opt.step()
            out.append(_flat(model))
        else:
            out.append(_train_opacus(model, x, y, own, steps, lr, sample_rate, dp, gen))
    return torch.stack(out)


def _train_opacus(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    own: torch.Tensor,
    steps: int,
    lr: float,
    sample_rate: float,
    dp: DPSGD,
    gen: torch.Generator,
) -> torch.Tensor:
    """DP-SGD as Opacus's ``make_private`` sets it up (mean loss, grad samples rescaled by the
    batch size, sum of clipped gradients plus noise divided by the expected batch size)."""
    from opacus import GradSampleModule
    from opacus.optimizers import DPOptimizer

    gsm = GradSampleModule(model, loss_reduction="mean")
    opt = DPOptimizer(
        torch.optim.SGD(gsm.parameters(), lr=lr),
        noise_multiplier=dp.noise_multiplier * dp.noise_scale,
        max_grad_norm=dp.max_grad_norm,
        expected_batch_size=len(own) * sample_rate,  # type: ignore[arg-type]  # a float is fine
        loss_reduction="mean",
        generator=gen,
    )
    with warnings.catch_warnings():  # the inputs need no grad: Opacus's hooks warn about it
        warnings.filterwarnings("ignore", message="Full backward hook is firing")
        for _ in range(steps):
            idx = own[torch.rand(len(own), generator=gen) < sample_rate]
            if len(idx) == 0:  # probability exp(-expected batch): negligible at these sizes
                continue
            loss = torch.nn.functional.cross_entropy(gsm(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return _flat(model)


def _accuracy(shape: MLPShape, theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> float:
    """Mean over models of the test accuracy."""
    with torch.no_grad():
        logits, _, _ = forward(shape, theta, x)
    return float((logits.argmax(-1) == y).float().mean())


def bench_shadow_models(
    models: int = 64,
    repeats: int = 3,
    steps: int = 300,
    batch: int = 32,
    lr: float = 0.5,
    hidden: int = 32,
    dp: bool = False,
    noise_multiplier: float = 1.0,
    max_grad_norm: float = 1.0,
    seed: int = 0,
    threads: int | None = 1,
) -> dict[str, Any]:
    """Median wall time of training ``models`` shadow models batched and one after another.

    ``threads`` (None: leave torch's setting) applies to both sides and is restored after. One
    thread is the sequential loop's best case (its matrices are far too small to split) and, on
    a shared machine, spares both sides OpenMP threads waiting for a busy core."""
    with torch_threads(threads):
        return _bench(models, repeats, steps, batch, lr, hidden, dp, noise_multiplier,
                      max_grad_norm, seed)  # fmt: skip


def _bench(
    models: int,
    repeats: int,
    steps: int,
    batch: int,
    lr: float,
    hidden: int,
    dp: bool,
    noise_multiplier: float,
    max_grad_norm: float,
    seed: int,
) -> dict[str, Any]:
    ds = load_dataset("digits")
    x_np, y_np, xt_np, yt_np = train_test_split(ds, 0.2, seed)
    x, y = torch.from_numpy(x_np.copy()), torch.from_numpy(y_np.copy())
    xt, yt = torch.from_numpy(xt_np.copy()), torch.from_numpy(yt_np.copy())
    shape = MLPShape((ds.n_features, hidden, ds.n_classes))
    members = member_masks(models, len(y), fraction=0.5, seed=seed)
    sample_rate = min(1.0, batch / (0.5 * len(y)))
    theta0 = init_params(shape, models, seed=seed, same_init=False)
    mech = DPSGD(noise_multiplier, max_grad_norm) if dp else None
    kw: dict[str, Any] = {
        "shape": shape, "theta0": theta0, "steps": steps, "lr": lr,
        "sample_rate": sample_rate, "dp": mech, "seed": seed,
    }  # fmt: skip

    def batched() -> torch.Tensor:
        return train_copies(x, y, members, **kw).theta

    def sequential() -> torch.Tensor:
        return train_sequential(x, y, members, **kw)

    t0 = time.perf_counter()
    batched()  # warm-up: one-time allocations and lazy imports, not timed
    cold = time.perf_counter() - t0
    # the same courtesy for the competitor: torch.optim / Opacus pay seconds of lazy imports
    # and first-call set-up on their first step, which says nothing about training speed
    train_sequential(x, y, members[:1], **(kw | {"steps": min(steps, 3)}))
    times: dict[str, list[float]] = {"batched": [], "sequential": []}
    thetas: dict[str, torch.Tensor] = {}
    runs = {"batched": batched, "sequential": sequential}
    for i in range(repeats):
        for name in ("batched", "sequential") if i % 2 == 0 else ("sequential", "batched"):
            t0 = time.perf_counter()
            thetas[name] = runs[name]()
            times[name].append(time.perf_counter() - t0)
    b_s, s_s = statistics.median(times["batched"]), statistics.median(times["sequential"])
    return {
        "models": models,
        "steps": steps,
        "batch": batch,
        "sample_rate": round(sample_rate, 6),
        "lr": lr,
        "hidden": hidden,
        "dp": dp,
        "noise_multiplier": noise_multiplier if dp else None,
        "max_grad_norm": max_grad_norm if dp else None,
        "sequential_kind": "opacus GradSampleModule+DPOptimizer" if dp else "nn.Module+optim.SGD",
        "repeats": repeats,
        "batched_s": round(b_s, 4),
        "sequential_s": round(s_s, 4),
        "speedup": round(s_s / b_s, 2),
        "batched_cold_s": round(cold, 4),
        "batched_all_s": [round(t, 4) for t in times["batched"]],
        "sequential_all_s": [round(t, 4) for t in times["sequential"]],
        "batched_acc": round(_accuracy(shape, thetas["batched"], xt, yt), 4),
        "sequential_acc": round(_accuracy(shape, thetas["sequential"], xt, yt), 4),
        "threads": torch.get_num_threads(),
    }


def report_lines(out: dict[str, Any]) -> list[str]:
    """The human-readable table ``vega-lab bench shadow-models`` prints above its JSON line."""
    kind = (
        f"DP-SGD (sigma {out['noise_multiplier']}, C {out['max_grad_norm']})"
        if out["dp"]
        else "SGD"
    )
    seq = f"sequential ({out['sequential_kind']})"
    return [
        f"{out['models']} shadow models, digits, 64-{out['hidden']}-10 MLP, each on a random half "
        f"of the training split, {kind}, {out['steps']} steps, lr {out['lr']}, Poisson batches "
        f"of ~{out['batch']}, {out['threads']} torch thread(s), median of {out['repeats']}:",
        f"  {'':<50}{'seconds':>10}{'test acc':>10}",
        f"  {'batched (train_copies)':<50}{out['batched_s']:>10.3f}{out['batched_acc']:>10.3f}"
        f"   {out['batched_all_s']}",
        f"  {seq:<50}{out['sequential_s']:>10.3f}{out['sequential_acc']:>10.3f}"
        f"   {out['sequential_all_s']}",
        f"  speedup (sequential_s / batched_s): {out['speedup']:.1f}x",
    ]
