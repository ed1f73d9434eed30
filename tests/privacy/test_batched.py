"""The batched trainer behind audits and shadow models: its per-example clipping equals
autograd's and Opacus's, its noise has the claimed scale, and it is reproducible."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vega_lab.datasets.shipped import load_dataset
from vega_lab.errors import ShapeMismatchError
from vega_lab.privacy.audit.batched import (
    DPSGD,
    GradientCanaries,
    MLPShape,
    clipped_gradient_sum,
    dead_coordinates,
    forward,
    init_params,
    per_example_losses,
    train_copies,
)


def _digits(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    ds = load_dataset("digits")
    return torch.tensor(np.asarray(ds.x[:n]), dtype=torch.float32), torch.tensor(ds.y[:n])


def _reference_clipped_sum(shape, theta, x, y, weight, clip):
    """Per-example gradients one by one with autograd, clipped, weighted and summed."""
    out = torch.zeros_like(theta)
    for m in range(theta.shape[0]):
        for b in range(x.shape[1]):
            t = theta[m : m + 1].clone().requires_grad_(True)
            loss = per_example_losses(shape, t, x[m : m + 1, b : b + 1], y[m : m + 1, b : b + 1])
            (g,) = torch.autograd.grad(loss.sum(), t)
            g = g[0]
            if clip is not None:
                g = g * min(1.0, clip / (float(g.norm()) + 1e-6))
            out[m] += weight[m, b] * g
    return out


@pytest.mark.parametrize("clip", [None, 0.5])
def test_clipped_sum_equals_per_example_autograd(clip: float | None) -> None:
    torch.manual_seed(0)
    shape = MLPShape((5, 4, 3, 3))
    theta = init_params(shape, 3, seed=1, same_init=False)
    x, y = torch.randn(3, 6, 5), torch.randint(0, 3, (3, 6))
    weight = torch.ones(3, 6)
    weight[0, 2] = 0.0
    got = clipped_gradient_sum(shape, theta, x, y, weight, clip)
    want = _reference_clipped_sum(shape, theta, x, y, weight, clip)
    torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-5)


def test_clipped_sum_equals_opacus_dp_optimizer() -> None:
    """With zero noise, Opacus's DPOptimizer step and ours apply the same clipped gradient."""
    from opacus import GradSampleModule
    from opacus.optimizers import DPOptimizer

    x, y = _digits(32)
    shape = MLPShape((64, 16, 10))
    theta = init_params(shape, 1, seed=3)
    model = torch.nn.Sequential(torch.nn.Linear(64, 16), torch.nn.ReLU(), torch.nn.Linear(16, 10))
    with torch.no_grad():
        for p, t in zip(
            [model[0].weight, model[0].bias, model[2].weight, model[2].bias],
            [t for wb in shape.layers(theta) for t in wb],
            strict=True,
        ):
            p.copy_(t[0])
    gsm = GradSampleModule(model)
    opt = DPOptimizer(
        torch.optim.SGD(gsm.parameters(), lr=1.0),
        noise_multiplier=0.0,
        max_grad_norm=0.7,
        expected_batch_size=32,
    )
    loss = torch.nn.functional.cross_entropy(gsm(x), y, reduction="sum")
    loss.backward()
    opt.pre_step()  # clip, accumulate, (no) noise, scale by 1 / expected batch size
    opacus_grad = torch.cat([p.grad.flatten() for p in gsm.parameters()]) * 32
    ours = clipped_gradient_sum(
        shape, theta, x.unsqueeze(0), y.unsqueeze(0), torch.ones(1, 32), 0.7
    )
    torch.testing.assert_close(ours[0], opacus_grad, atol=1e-5, rtol=1e-4)


def test_shared_inputs_match_per_copy_inputs() -> None:
    shape = MLPShape((64, 8, 10))
    theta = init_params(shape, 4, seed=0, same_init=False)
    x, y = _digits(20)
    shared, _, _ = forward(shape, theta, x)
    copied, _, _ = forward(shape, theta, x.expand(4, -1, -1))
    torch.testing.assert_close(shared, copied)
    w = torch.ones(4, 20)
    torch.testing.assert_close(
        clipped_gradient_sum(shape, theta, x, y.expand(4, -1), w, 1.0),
        clipped_gradient_sum(shape, theta, x.expand(4, -1, -1), y.expand(4, -1), w, 1.0),
    )


def test_noise_and_canary_have_the_claimed_scale() -> None:
    """On a dead coordinate the white-box view is exactly canary (1 when sampled) + N(0, s^2)."""
    x, y = _digits(64)
    shape = MLPShape((64, 8, 10))
    coords = torch.tensor(dead_coordinates(shape, x, limit=1))
    assert len(coords) == 1
    copies = 2000
    included = (torch.arange(copies) % 2 == 0).unsqueeze(1)
    run = train_copies(
        x, y, torch.ones(copies, 64, dtype=torch.bool), shape=shape, steps=3, lr=0.1,
        sample_rate=1.0, dp=DPSGD(2.0, 1.0), seed=0,
        canaries=GradientCanaries(coords, included),
    )  # fmt: skip
    obs = run.observations[:, :, 0]
    assert obs.shape == (3, copies)
    inside, outside = obs[:, included[:, 0]], obs[:, ~included[:, 0]]
    assert abs(float(inside.mean()) - 1.0) < 0.15 and abs(float(outside.mean())) < 0.15
    assert abs(float(outside.std()) - 2.0) < 0.1
    bugged = train_copies(
        x, y, torch.ones(copies, 64, dtype=torch.bool), shape=shape, steps=1, lr=0.1,
        sample_rate=1.0, dp=DPSGD(2.0, 1.0, noise_scale=0.1), seed=0,
        canaries=GradientCanaries(coords, included),
    )  # fmt: skip
    assert abs(float(bugged.observations[0, ~included[:, 0], 0].std()) - 0.2) < 0.02


def test_poisson_sampling_rate_and_reproducibility() -> None:
    x, y = _digits(100)
    shape = MLPShape((64, 8, 10))
    members = torch.rand(50, 100, generator=torch.Generator().manual_seed(0)) < 0.5
    kwargs = dict(shape=shape, steps=4, lr=0.2, sample_rate=0.1, dp=DPSGD(1.0, 1.0), seed=5)
    a = train_copies(x, y, members, **kwargs)
    b = train_copies(x, y, members, **kwargs)
    torch.testing.assert_close(a.theta, b.theta, rtol=0, atol=0)
    c = train_copies(x, y, members, **{**kwargs, "seed": 6})
    assert not torch.equal(a.theta, c.theta)


def test_non_private_copies_learn_digits() -> None:
    ds = load_dataset("digits")
    x = torch.tensor(np.asarray(ds.x), dtype=torch.float32)
    y = torch.tensor(ds.y)
    shape = MLPShape((64, 32, 10))
    members = torch.zeros(8, len(x), dtype=torch.bool)
    members[:, :1200] = True
    run = train_copies(x, y, members, shape=shape, steps=300, lr=0.5, sample_rate=0.05, seed=0)
    logits, _, _ = forward(shape, run.theta, x[1200:])
    acc = (logits.argmax(-1) == y[1200:]).float().mean(1)
    assert float(acc.min()) > 0.85, acc


def test_bad_shapes_are_named() -> None:
    shape = MLPShape((64, 8, 10))
    x, y = _digits(10)
    with pytest.raises(ShapeMismatchError, match="members"):
        train_copies(
            x, y, torch.ones(2, 11, dtype=torch.bool), shape=shape, steps=1, lr=0.1,
            sample_rate=1.0,
        )  # fmt: skip
    with pytest.raises(ShapeMismatchError):
        train_copies(
            x[:, :10], y, torch.ones(2, 10, dtype=torch.bool), shape=shape, steps=1, lr=0.1,
            sample_rate=1.0,
        )  # fmt: skip
