"""Secure aggregation (vega_lab.federated.secure): the field, quantization, Shamir, and the
SecAgg+ protocol end to end with real X25519/AES from `cryptography`, run as message-passing
client and server objects."""

from __future__ import annotations

import itertools
import json
import math
import os

import numpy as np
import pytest
import torch

from vega_lab.errors import SecureAggregationError
from vega_lab.federated.secure import (
    SecAggClient,
    SecAggServer,
    SecureAggregator,
    field,
    secure_sum,
    shamir,
)
from vega_lab.federated.secure import messages as msg
from vega_lab.federated.secure.graph import default_shares, neighbourhoods
from vega_lab.federated.secure.prg import Drbg, expand_mask
from vega_lab.federated.secure.quantize import Quantizer, quantization_bits


def _updates(n: int, p: int, seed: int = 0, scale: float = 0.1) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, scale, (n, p))


def test_field_arithmetic_matches_python_integers() -> None:
    rng = Drbg(0, "test")
    a, b = field.uniform(rng.read, (1000,)), field.uniform(rng.read, (1000,))
    assert a.min() >= 0 and a.max() < field.P
    assert [int(v) for v in field.mul(a, b)] == [
        x * y % field.P for x, y in zip(a.tolist(), b.tolist(), strict=True)
    ]
    nz = a[a != 0]
    assert np.all(field.mul(nz, field.inv(nz)) == 1)
    assert np.all(field.sub(field.add(a, b), b) == a)
    with pytest.raises(ZeroDivisionError):
        field.inv(np.array([0]))


def test_quantization_round_trip_within_the_documented_bound() -> None:
    assert quantization_bits(1) == 32 and quantization_bits(100) == 25
    assert quantization_bits(500) == 23
    q = Quantizer(clip=1.0, num_clients=7)
    x = np.clip(_updates(7, 2000, scale=0.3), -0.9, 0.9)
    x[0, :5] = [1.0, -1.0, 3.0, -3.0, 0.0]  # the ends, and two values to clip
    enc = [q.encode(row) for row in x]
    assert sum(c for _, c in enc) == 2
    one = q.decode_sum(enc[1][0], 1)
    assert np.abs(one - x[1]).max() <= q.error_bound(1)
    total = np.sum([e.astype(np.uint64) for e, _ in enc], axis=0).astype(np.uint32)
    expect = np.clip(x, -1, 1).sum(0)
    assert np.abs(q.decode_sum(total, 7) - expect).max() <= q.error_bound(7)
    # n clients all at +clip: the largest possible sum still fits the ring, no wrap
    top = np.full(3, 1.0)
    full = np.sum([q.encode(top)[0].astype(np.uint64)] * 7, axis=0)
    assert full.max() < 2**32 and np.allclose(q.decode_sum(full.astype(np.uint32), 7), 7.0)
    with pytest.raises(SecureAggregationError, match="wrapped"):
        q.decode_sum(total, 8)


def test_shamir_reconstructs_from_any_t_shares_and_not_from_t_minus_1() -> None:
    rng = Drbg(1, "shamir")
    secret = os.urandom(32)
    xs = [3, 5, 8, 9, 12]
    shares = dict(zip(xs, shamir.share_secret(secret, 3, xs, rng.read), strict=True))
    for subset in itertools.combinations(xs, 3):
        assert shamir.reconstruct_secrets([{x: shares[x] for x in subset}], 3) == [secret]
    with pytest.raises(SecureAggregationError, match="2 shares arrived, 3 are needed"):
        shamir.reconstruct_secrets([{3: shares[3], 5: shares[5]}], 3)
    # interpolating t-1 shares yields some other value, not the secret
    limbs = shamir.reconstruct(
        np.array([[3, 5]]), np.array([[shamir.decode_share(shares[x]) for x in (3, 5)]])
    )[0]
    assert not np.array_equal(limbs, shamir.to_limbs(secret))


def test_shamir_thresholds_that_are_impossible_or_insecure_are_refused() -> None:
    shamir.check_threshold(3, 5)
    with pytest.raises(SecureAggregationError, match="exceeds the 5 share holders"):
        shamir.check_threshold(6, 5)
    for t in (1, 2):
        with pytest.raises(SecureAggregationError, match="insecure"):
            shamir.check_threshold(t, 5)
    with pytest.raises(SecureAggregationError, match="insecure"):
        shamir.check_threshold(5, 10)  # exactly half is not a majority


def test_masks_are_keyed_uniform_and_reproducible() -> None:
    seed = bytes(range(32))
    m = expand_mask(seed, 100_000)
    assert np.array_equal(m, expand_mask(seed, 100_000))
    assert not np.array_equal(m, expand_mask(bytes(32), 100_000))
    counts = np.bincount(m >> 28, minlength=16)  # top 4 bits: 16 equally likely bins
    chi2 = ((counts - len(m) / 16) ** 2 / (len(m) / 16)).sum()
    assert chi2 < 45  # 15 dof: p < 1e-4 for a uniform source


@pytest.mark.parametrize("n", [3, 12])
def test_unmasked_sum_equals_the_plain_sum_within_quantization_error(n: int) -> None:
    x = _updates(n, 300)
    r = secure_sum(x, seed=0)
    assert r.survivors == list(range(n)) and r.dropped == [] and r.rejected == {}
    assert np.abs(r.total - x.sum(0)).max() <= r.error_bound
    assert r.error_bound == pytest.approx(n / (2**r.bits - 1))
    assert r.num_shares == n and r.threshold == n // 2 + 1


def test_decodes_with_30_percent_of_clients_dropping_after_sharing_keys() -> None:
    x = _updates(20, 400, seed=1)
    r = secure_sum(x, dropout=0.3, late_dropout=0.1, seed=2)
    assert len(r.dropped) == 6 and len(r.survivors) == 14
    assert not set(r.dropped) & set(r.survivors)
    assert np.abs(r.total - x[r.survivors].sum(0)).max() <= r.error_bound
    dropped_sum = x[r.dropped].sum(0)
    assert np.abs(r.total - x.sum(0)).max() > 10 * r.error_bound  # they are really absent
    assert np.abs(dropped_sum).max() > 0


def test_sparse_secagg_plus_graph_decodes_with_dropouts() -> None:
    hoods = neighbourhoods(list(range(1, 31)), 9, Drbg(0, "g"))
    assert all(len(h) == 9 and i in h for i, h in hoods.items())
    assert all(i in hoods[j] for i, h in hoods.items() for j in h)  # symmetric
    x = _updates(30, 200, seed=3)
    r = secure_sum(x, dropout=0.2, num_shares=13, seed=4)
    assert r.num_shares == 13 and r.threshold == 7
    assert np.abs(r.total - x[r.survivors].sum(0)).max() <= r.error_bound
    assert default_shares(100, 0.3) == 100 and default_shares(500, 0.3) == 123


def test_fewer_than_t_survivors_is_a_clear_error() -> None:
    with pytest.raises(SecureAggregationError, match="threshold 6; the sum cannot be decoded"):
        secure_sum(_updates(10, 50), dropout=0.5, seed=0)
    with pytest.raises(SecureAggregationError, match="lower the dropout"):
        secure_sum(_updates(10, 50), dropout=0.2, late_dropout=[0, 1, 2, 3, 4], seed=0)


def test_bad_parameters_are_refused() -> None:
    x = _updates(6, 20)
    with pytest.raises(SecureAggregationError, match="exceeds the 6 share holders"):
        secure_sum(x, threshold=7)
    with pytest.raises(SecureAggregationError, match="insecure"):
        secure_sum(x, threshold=3)
    with pytest.raises(SecureAggregationError, match="insecure"):
        secure_sum(x, threshold=1)
    with pytest.raises(SecureAggregationError, match="at least 2 clients"):
        secure_sum(x[:1])
    with pytest.raises(SecureAggregationError, match="positive number"):
        secure_sum(x, clip=0.0)
    with pytest.raises(SecureAggregationError, match="must be odd"):
        secure_sum(_updates(20, 5), num_shares=8)


def test_wrong_length_and_nan_clients_are_rejected_before_masking_and_recorded() -> None:
    rows = list(_updates(8, 100, seed=5))
    rows[2] = rows[2][:90]
    rows[5] = rows[5].copy()
    rows[5][7] = np.nan
    rows[6] = rows[6].copy()
    rows[6][0] = np.inf
    r = secure_sum(rows, seed=1)
    assert sorted(r.rejected) == [2, 5, 6]
    assert "shape [90], the model has 100" in r.rejected[2]
    assert "1 NaN/Inf" in r.rejected[5] and "NaN/Inf" in r.rejected[6]
    assert r.survivors == [0, 1, 3, 4, 7] and r.dropped == []
    good = np.array([rows[i] for i in r.survivors])
    assert np.abs(r.total - good.sum(0)).max() <= r.error_bound
    assert np.all(np.isfinite(r.total))


def _run_to_masked(n: int, x: np.ndarray, seed: int) -> tuple[SecAggServer, dict, dict]:
    """Drive stages 0-2 by hand; returns the server, clients and their masked messages."""
    ids = list(range(1, n + 1))
    server = SecAggServer(ids, size=x.shape[1], num_shares=n, threshold=n // 2 + 1, clip=1.0,
                          seed=seed)  # fmt: skip
    clients = {i: SecAggClient(i, seed) for i in ids}
    setup = server.setup_message()
    books = server.receive_keys({i: c.advertise(setup) for i, c in clients.items()})
    fwd = server.receive_shares({i: clients[i].share_keys(b) for i, b in books.items()})
    masked = {i: clients[i].masked_input(fwd[i], x[i - 1]) for i in ids}
    return server, clients, masked


def test_a_single_masked_update_is_uncorrelated_with_the_true_update() -> None:
    n, p = 5, 20_000
    x = _updates(n, p, seed=7)
    _, _, masked = _run_to_masked(n, x, seed=3)
    bound = 4 / math.sqrt(p)
    q = Quantizer(1.0, n)
    for i, buf in masked.items():
        y = np.frombuffer(buf, dtype="<u4", offset=4).astype(np.float64)
        assert abs(np.corrcoef(y, x[i - 1])[0, 1]) < bound
        # without the masks the same statistic is ~1: the test would catch missing masks
        assert np.corrcoef(q.encode(x[i - 1])[0].astype(np.float64), x[i - 1])[0, 1] > 0.99
    # a partial sum (4 of 5 clients) is still masked by the 5th's pairwise masks
    partial = np.sum(
        [np.frombuffer(masked[i], "<u4", offset=4).astype(np.uint64) for i in range(1, 5)], 0
    ).astype(np.uint32)
    assert abs(np.corrcoef(partial.astype(np.float64), x[:4].sum(0))[0, 1]) < bound


def test_server_rejects_a_masked_vector_of_the_wrong_length_and_still_decodes() -> None:
    n = 6
    x = _updates(n, 64, seed=8)
    server, clients, masked = _run_to_masked(n, x, seed=5)
    for i, buf in masked.items():
        server.receive_masked(i, buf[:-4] if i == 4 else buf)
    assert "client 4 sent a masked vector of 63 coordinates, expected 64" in server.rejected[4]
    reveals = {i: clients[i].unmask(r) for i, r in server.unmask_requests().items()}
    server.receive_reveals(reveals)
    good = [i - 1 for i in sorted(server.u3)]
    assert good == [0, 1, 2, 4, 5]
    assert np.abs(server.decode() - x[good].sum(0)).max() <= server.quantizer.error_bound(5)


def test_tampered_share_fails_authentication() -> None:
    ids = [1, 2, 3]
    server = SecAggServer(ids, size=4, num_shares=3, threshold=2, clip=1.0, seed=0)
    clients = {i: SecAggClient(i, 0) for i in ids}
    setup = server.setup_message()
    books = server.receive_keys({i: c.advertise(setup) for i, c in clients.items()})
    fwd = server.receive_shares({i: clients[i].share_keys(b) for i, b in books.items()})
    bad = bytearray(fwd[1])
    bad[-1] ^= 1
    with pytest.raises(SecureAggregationError, match="fails authentication"):
        clients[1].masked_input(bytes(bad), np.zeros(4))


def test_determinism_by_seed() -> None:
    x = _updates(8, 200, seed=9)
    a = secure_sum(x, dropout=0.25, seed=11)
    b = secure_sum(x, dropout=0.25, seed=11)
    c = secure_sum(x, dropout=0.25, seed=12)
    assert np.array_equal(a.total, b.total) and a.dropped == b.dropped
    assert a.bytes_up == b.bytes_up and a.bytes_down == b.bytes_down
    _, _, m1 = _run_to_masked(4, x[:4], seed=1)
    _, _, m2 = _run_to_masked(4, x[:4], seed=1)
    _, _, m3 = _run_to_masked(4, x[:4], seed=2)
    assert m1 == m2 and all(m1[i] != m3[i] for i in m1)
    assert np.abs(c.total - x[c.survivors].sum(0)).max() <= c.error_bound


def test_bytes_are_counted_per_client() -> None:
    n, p = 10, 1000
    r = secure_sum(_updates(n, p), seed=0)
    # every message's exact size: keys, key book, encrypted shares, vector, unmask, reveals
    up = msg.KEYS.size + 4 + (n - 1) * msg.ROUTED.size + 4 + 4 * p + 4 + n * msg.REVEAL.size
    down = msg.SETUP.size + 4 + n * msg.KEYS.size + 4 + (n - 1) * msg.ROUTED.size + 8 + 4 * n
    assert r.bytes_up == [up] * n and r.bytes_down == [down] * n
    assert r.bytes_per_client == up + down
    d = secure_sum(_updates(n, p), dropout=0.2, seed=0)
    for i in d.dropped:  # sent keys and shares, never a vector
        assert 0 < d.bytes_up[i] < 4 * p


def test_secure_aggregator_weighted_mean_matches_fedavg() -> None:
    x = torch.from_numpy(_updates(10, 50, seed=4)).float()
    w = torch.tensor([10.0, 20, 30, 40, 50, 60, 70, 80, 90, 100])
    mean, r = SecureAggregator(clip=1.0, seed=0).mean(x, w, dropout=0.3)
    keep = torch.tensor(r.survivors)
    expect = (w[keep, None] * x[keep]).sum(0) / w[keep].sum()
    assert len(r.survivors) == 7
    assert torch.allclose(mean, expect, atol=1e-5)
    with pytest.raises(SecureAggregationError, match="positive weight"):
        SecureAggregator().mean(x, torch.zeros(10))


def test_bench_secagg_smoke_prints_a_table_and_a_json_line() -> None:
    from typer.testing import CliRunner

    from vega_lab.cli import app

    args = ["bench", "secagg", "--clients", "5", "--params", "100", "--repeats", "1"]
    res = CliRunner().invoke(app, [*args, "--no-flower"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output.strip().splitlines()[-1])
    assert out["decoded"] is True and out["dropped"] == 2 and out["flower_s"] is None
    assert out["vega_s"] > 0 and out["plain_s"] > 0 and out["bytes_per_client"] > 400
    assert out["vega_max_err"] < 1e-6 and "vega SecAgg+" in res.output


def test_simulation_with_secure_aggregation_matches_plain_fedavg() -> None:
    from vega_lab.federated import simulate

    kw = {"num_clients": 6, "rounds": 2, "dropout": 0.2, "seed": 0}
    plain = simulate(**kw)
    secure = simulate(**kw, secure_aggregation=True)
    assert [r.clients for r in secure.history] == [r.clients for r in plain.history]
    assert torch.allclose(secure.params, plain.params, atol=1e-5)
    assert not torch.equal(secure.params, plain.params)  # it really went through the protocol
    assert secure.history[0].bytes_up > plain.history[0].bytes_up
    with pytest.raises(SecureAggregationError, match="'median' computes its own"):
        simulate(num_clients=6, rounds=1, strategy="median", secure_aggregation=True)


def test_secure_aggregation_records_no_per_client_view() -> None:
    """Under SecAgg the server sees only the sum: the audit log must not hold per-client norms,
    flags or contributions, which the same plain run does record (sign flip is always flagged)."""
    import math

    from vega_lab.federated import simulate

    kw = {"num_clients": 10, "rounds": 1, "seed": 0, "attack": "sign_flip"}
    kw |= {"malicious_fraction": 0.2}
    plain = simulate(**kw).audit.entries[0]
    secure = simulate(**kw, secure_aggregation=True).audit.entries[0]
    assert plain.flagged and all(math.isfinite(n) for n in plain.norms)
    assert secure.flagged == [] and all(math.isnan(n) for n in secure.norms)
    assert all(math.isnan(s) for s in secure.contributions if s != 0)
    assert secure.selected == secure.participants
