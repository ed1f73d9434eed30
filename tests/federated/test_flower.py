"""The Flower engine: the same rounds as the vectorized engine, run as Flower ServerApp/ClientApp
messages on Ray. Each Flower run starts Ray (Flower shuts it down after every run), so two runs
cover the contract: FedAvg parity, and SCAFFOLD with client-held state plus early stopping."""

from __future__ import annotations

import math
import sys
from importlib.util import find_spec

import pytest
import torch

from vega_lab.errors import ShapeMismatchError
from vega_lab.federated import simulate
from vega_lab.federated.engines.flower import _pack, _unpack
from vega_lab.federated.model import ParamSpec

needs_flower = pytest.mark.skipif(
    find_spec("flwr") is None or find_spec("ray") is None, reason="needs flwr[simulation]"
)

BASE = dict(dataset="digits", partition="iid", batch_size=32, lr=0.3, local_epochs=2, seed=0)


def test_wire_format_round_trips_and_names_a_mismatched_tensor() -> None:
    spec = ParamSpec(("w", "b"), ((2, 3), (3,)))
    flat = torch.arange(9, dtype=torch.float32)
    got = _unpack(_pack({"params": flat, "broadcast.control": -flat}, spec), spec)
    assert torch.equal(got["params"], flat) and torch.equal(got["broadcast.control"], -flat)
    other = ParamSpec(("w", "b"), ((3, 2), (3,)))
    with pytest.raises(ShapeMismatchError, match="'w'"):
        _unpack(_pack({"delta": flat}, other), spec)


@needs_flower
def test_fedavg_through_flower_matches_the_vectorized_engine(workspace) -> None:
    cfg = dict(BASE, num_clients=4, rounds=2, strategy="fedavg")
    seen = []
    flower = simulate(engine="flower", on_round=seen.append, **cfg)
    vectorized = simulate(engine="vectorized", **cfg)

    assert [r.round for r in flower.history] == [0, 1] == [r.round for r in seen]
    assert flower.extra["engine"] == "flower" and flower.stop_reason == "completed"
    assert flower.final_accuracy > 0.5 and vectorized.final_accuracy > 0.5
    assert abs(flower.final_accuracy - vectorized.final_accuracy) <= 0.02
    # one deterministic client function on both sides: the models agree to float rounding
    torch.testing.assert_close(flower.params, vectorized.params, atol=1e-4, rtol=0)
    assert flower.client_stats == vectorized.client_stats  # reported by the clients themselves
    assert all(sum(s["label_histogram"]) == s["num_examples"] for s in flower.client_stats)
    assert sorted(flower.client_metrics) == [0, 1, 2, 3]
    assert all(math.isfinite(m["train_loss"]) for m in flower.client_metrics.values())
    assert (flower.frame()["bytes_up"] == vectorized.frame()["bytes_up"]).all()
    assert sys.modules.get("tensorflow", "absent") is not None  # hidden only while importing


@needs_flower
def test_scaffold_keeps_client_state_on_the_clients_and_stops_early(workspace) -> None:
    cfg = dict(BASE, num_clients=3, strategy="scaffold", client_test_fraction=0.2)
    done: list[int] = []
    flower = simulate(
        engine="flower",
        rounds=3,
        on_round=lambda r: done.append(r.round),
        should_stop=lambda: len(done) >= 2,
        **cfg,
    )
    vectorized = simulate(engine="vectorized", rounds=2, **cfg)

    assert flower.stop_reason == "stopped" and len(flower.history) == 2
    assert flower.final_accuracy > 0.5
    # round 1 uses each client's control variate from round 0: it must have been kept
    torch.testing.assert_close(flower.params, vectorized.params, atol=1e-4, rtol=0)
    torch.testing.assert_close(
        flower.state["control"], vectorized.state["control"], atol=1e-4, rtol=0
    )
    assert flower.state["control"].abs().sum() > 0
    assert all(not math.isnan(r.client_accuracy) for r in flower.history)


@pytest.mark.slow
@needs_flower
def test_a_robust_aggregator_under_attack_through_flower_matches_vectorized(workspace) -> None:
    """Backdoor: the poisoned data lives on the Flower clients (each rebuilds its share from the
    config), the boosted update is applied to the stacked tensor in the ServerApp's round loop,
    the median aggregates, and the audit log and backdoor metric come back the same."""
    cfg = dict(
        BASE, num_clients=4, rounds=2, strategy="median", attack="backdoor",
        malicious_fraction=0.25, attack_options={"target": 3},
    )  # fmt: skip
    flower = simulate(engine="flower", **cfg)
    vectorized = simulate(engine="vectorized", **cfg)

    assert flower.audit.malicious == vectorized.audit.malicious and len(flower.audit.malicious) == 1
    torch.testing.assert_close(flower.params, vectorized.params, atol=1e-4, rtol=0)
    for a, b in zip(flower.audit.entries, vectorized.audit.entries, strict=True):
        assert (a.participants, a.malicious, a.flagged) == (b.participants, b.malicious, b.flagged)
        assert a.aggregator == "median" and a.malicious
    for a, b in zip(flower.history, vectorized.history, strict=True):
        assert a.backdoor_success == pytest.approx(b.backdoor_success, abs=0.01)
        assert not math.isnan(a.backdoor_success)
    # the poisoned client reported its own (relabelled) histogram, as every Flower client does
    assert flower.client_stats == vectorized.client_stats
