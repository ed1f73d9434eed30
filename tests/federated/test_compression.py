"""Update compressors: what is sent, what is remembered, what it costs on the wire."""

from __future__ import annotations

import math

import pytest
import torch

from vega_lab.errors import ConfigError, ShapeMismatchError, UnknownNameError
from vega_lab.federated.compression import (
    COMPRESSORS,
    Q8,
    Compressor,
    NoCompression,
    TopK,
    bytes_dense,
    get_compressor,
)

ALL: list[Compressor] = [NoCompression(), TopK(0.1), Q8(), Q8(error_feedback=False)]


def _max_err(a: torch.Tensor, b: torch.Tensor) -> float:
    # (torch.testing.assert_close costs seconds of imports on first use)
    assert a.shape == b.shape
    return (a - b).abs().max().item()


def _updates(c: int = 6, n: int = 50, seed: int = 0) -> torch.Tensor:
    return torch.randn(c, n, generator=torch.Generator().manual_seed(seed))


def test_registry_names_and_lookup() -> None:
    assert set(COMPRESSORS) == {"none", "topk", "q8"}
    assert isinstance(get_compressor("none"), NoCompression)
    assert get_compressor("topk", ratio=0.25).ratio == 0.25
    assert get_compressor("q8", error_feedback=False).error_feedback is False
    with pytest.raises(UnknownNameError, match="none, q8, topk"):
        get_compressor("gzip")
    with pytest.raises(ConfigError, match="topk"):
        get_compressor("topk", ration=0.1)


@pytest.mark.parametrize("ratio", [0, -0.5, 1.5, float("nan"), "0.1", True])
def test_bad_ratio_raises(ratio: object) -> None:
    with pytest.raises(ConfigError, match="ratio must be in"):
        TopK(ratio)  # type: ignore[arg-type]


def test_topk_keeps_exactly_k_largest_per_row() -> None:
    u = _updates(c=5, n=40)
    sent, residual, nbytes = TopK(0.1).compress(u)
    k = 4
    assert ((sent != 0).sum(dim=1) == k).all()
    for row, s in zip(u, sent, strict=True):
        expected = set(row.abs().argsort(descending=True)[:k].tolist())
        assert set(s.nonzero().flatten().tolist()) == expected
        assert torch.equal(s[list(expected)], row[list(expected)])  # values sent as they are
    assert nbytes == 4 + 8 * k
    assert residual is not None and torch.equal(residual + sent, u)


@pytest.mark.parametrize(
    ("ratio", "n", "k"), [(0.07, 100, 7), (0.1, 1000, 100), (1e-6, 10, 1), (1.0, 9, 9)]
)
def test_topk_k_rounds_up_with_a_floor_of_one(ratio: float, n: int, k: int) -> None:
    assert TopK(ratio).k(n) == k
    assert TopK(ratio).compress(torch.randn(2, n))[2] == 4 + 8 * k


def test_topk_error_feedback_conserves_mass_exactly() -> None:
    u, old = _updates(seed=1), _updates(seed=2) * 0.3
    sent, new, _ = TopK(0.2).compress(u, old)
    assert new is not None
    assert torch.equal(sent + new, u + old)
    # what the residual holds is exactly what was not sent
    assert torch.equal((sent != 0) & (new != 0), torch.zeros_like(sent, dtype=torch.bool))


def test_q8_error_feedback_conserves_mass() -> None:
    u, old = _updates(seed=3), _updates(seed=4) * 0.01
    sent, new, _ = Q8().compress(u, old)
    assert new is not None
    assert _max_err(sent + new, u + old) <= 1e-6


@pytest.mark.parametrize("compressor", [TopK(0.05), Q8()], ids=repr)
def test_error_feedback_makes_cumulative_sent_track_cumulative_updates(
    compressor: Compressor,
) -> None:
    g = torch.Generator().manual_seed(5)
    drift = torch.randn(4, 200, generator=g)
    residual = None
    total_sent, total_updates, total_no_ef = torch.zeros(3, 4, 200).unbind()
    rel: dict[int, float] = {}
    for t in range(1, 301):
        u = drift + torch.randn(4, 200, generator=g)
        sent, residual, _ = compressor.compress(u, residual)
        total_sent += sent
        total_updates += u
        total_no_ef += compressor.compress(u, None)[0]
        rel[t] = ((total_sent - total_updates).norm() / total_updates.norm()).item()
    assert residual is not None
    # telescoping: everything not yet sent is in the residual (up to float32 summation error)
    assert _max_err(total_sent + residual, total_updates) <= 2e-3
    # the gap stays bounded while the signal grows, so the relative error keeps shrinking
    assert rel[300] < 0.05 and rel[300] < rel[100] / 2
    rel_no_ef = ((total_no_ef - total_updates).norm() / total_updates.norm()).item()
    assert rel_no_ef > 5 * rel[300]  # without memory the compression error piles up


def test_q8_error_is_at_most_half_a_step() -> None:
    u = _updates(c=8, n=1000) * torch.logspace(-3, 2, 8).unsqueeze(1)
    sent, residual, nbytes = Q8(error_feedback=False).compress(u)
    assert residual is None and nbytes == 1000 + 8
    scale = (u.amax(1) - u.amin(1)) / 255
    err = (sent - u).abs().amax(1)
    assert (err <= scale / 2 + 1e-6 * u.abs().amax(1)).all()
    assert (err > 0).all()  # it really is lossy
    # decoded values lie on the per-row grid min + code * scale
    codes = (sent - u.amin(1, keepdim=True)) / scale.unsqueeze(1)
    assert _max_err(codes, codes.round()) <= 1e-3
    assert codes.round().unique().numel() <= 256


def test_q8_constant_rows_are_exact() -> None:
    u = torch.stack([torch.full((10,), 3.25), torch.zeros(10), torch.linspace(-1, 1, 10)])
    sent, residual, _ = Q8().compress(u)
    assert torch.equal(sent[:2], u[:2]) and torch.isfinite(sent).all()
    assert residual is not None and torch.equal(residual[:2], torch.zeros(2, 10))


def test_q8_without_error_feedback_ignores_the_residual() -> None:
    u = _updates()
    a = Q8(error_feedback=False).compress(u, torch.ones_like(u))
    b = Q8(error_feedback=False).compress(u, None)
    assert torch.equal(a[0], b[0]) and a[1] is None


def test_no_compression_is_identity() -> None:
    u = _updates()
    sent, residual, nbytes = NoCompression().compress(u)
    assert torch.equal(sent, u) and sent.data_ptr() != u.data_ptr()
    assert residual is None and nbytes == bytes_dense(50) == 200


def test_byte_counts() -> None:
    n = 10_000
    u = torch.randn(3, n)
    assert NoCompression().compress(u)[2] == 4 * n
    assert TopK(0.01).compress(u)[2] == 100 * 8 + 4
    assert Q8().compress(u)[2] == n + 8
    assert math.isclose(bytes_dense(n) / Q8().compress(u)[2], 4, rel_tol=0.01)


@pytest.mark.parametrize("compressor", ALL, ids=repr)
def test_rows_are_independent(compressor: Compressor) -> None:
    u, res = _updates(c=7, n=64, seed=6), _updates(c=7, n=64, seed=7) * 0.1
    sent, new, nbytes = compressor.compress(u, res)
    for i in range(u.shape[0]):
        s_i, r_i, b_i = compressor.compress(u[i : i + 1], res[i : i + 1])
        assert torch.equal(s_i, sent[i : i + 1])
        if new is None:
            assert r_i is None
        else:
            assert r_i is not None
            assert torch.equal(r_i, new[i : i + 1])
        assert b_i == nbytes


@pytest.mark.parametrize("compressor", ALL, ids=repr)
def test_inputs_are_not_mutated(compressor: Compressor) -> None:
    u, res = _updates(seed=8), _updates(seed=9)
    u_copy, res_copy = u.clone(), res.clone()
    sent, new, _ = compressor.compress(u, res)
    sent.add_(1.0)
    if new is not None:
        new.add_(1.0)
    assert torch.equal(u, u_copy) and torch.equal(res, res_copy)


@pytest.mark.parametrize("compressor", ALL, ids=repr)
def test_shape_errors_are_clear(compressor: Compressor) -> None:
    with pytest.raises(ShapeMismatchError, match="clients, params"):
        compressor.compress(torch.randn(10))
    with pytest.raises(ShapeMismatchError, match="residual must match"):
        compressor.compress(torch.randn(2, 5), torch.randn(2, 4))
    with pytest.raises(ConfigError, match="floating point"):
        compressor.compress(torch.ones(2, 5, dtype=torch.int64))
