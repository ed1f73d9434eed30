"""simulate(): learning happens, participation is simulated, runs stop when asked, results save
and load with integrity checks, and bad configs are clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from vega_lab.errors import FederatedError, IntegrityError, SignatureError, UnknownNameError
from vega_lab.federated import FederatedConfig, serialization, simulate


def test_fedavg_learns_digits() -> None:
    res = simulate(num_clients=10, rounds=3, local_epochs=5)
    accs = [r.accuracy for r in res.history]
    assert accs[-1] > 0.75 and accs[-1] > accs[0]
    assert res.stop_reason == "completed"
    frame = res.clients_frame()
    assert (
        len(frame) == 10 and frame["num_examples"].sum() == 1797 - 359
    )  # the server holds out 359
    assert all(
        sum(h) == n for h, n in zip(frame["label_histogram"], frame["num_examples"], strict=True)
    )


def test_sampling_dropouts_and_stragglers_change_who_reports() -> None:
    res = simulate(num_clients=10, rounds=4, fraction=0.5, dropout=0.3, stragglers=0.3, seed=2)
    assert all(r.clients + r.dropped == 5 for r in res.history)
    assert sum(r.dropped for r in res.history) > 0
    assert all(r.bytes_down == 5 * 4 * res.spec.size for r in res.history)


def test_compression_cuts_uplink_bytes() -> None:
    dense = simulate(num_clients=4, rounds=2)
    topk = simulate(num_clients=4, rounds=2, compression="topk", compression_ratio=0.05)
    q8 = simulate(num_clients=4, rounds=2, compression="q8")
    n = dense.spec.size
    assert dense.history[0].bytes_up == 4 * 4 * n
    assert topk.history[0].bytes_up < dense.history[0].bytes_up / 8
    assert q8.history[0].bytes_up == 4 * (n + 8)
    assert abs(q8.final_accuracy - dense.final_accuracy) < 0.03  # 8 bits lose little


def test_early_stopping_on_target_accuracy() -> None:
    res = simulate(num_clients=4, rounds=50, local_epochs=3, target_accuracy=0.8)
    assert len(res.history) < 50 and res.final_accuracy >= 0.8
    assert res.stop_reason.startswith("target accuracy")


def test_should_stop_ends_the_run_between_rounds() -> None:
    seen: list[int] = []
    res = simulate(
        num_clients=4,
        rounds=20,
        on_round=lambda r: seen.append(r.round),
        should_stop=lambda: len(seen) >= 2,
    )
    assert len(res.history) == 2 and res.stop_reason == "stopped"


def test_ditto_reports_personal_accuracy_above_global_under_one_label_per_client() -> None:
    cfg = dict(
        num_clients=10, rounds=3, partition="shards", labels_per_client=1, client_test_fraction=0.2
    )
    ditto = simulate(strategy="ditto", **cfg)
    avg = simulate(strategy="fedavg", **cfg)
    # a client holding one class is served far better by its personal model
    assert ditto.history[-1].client_accuracy > 0.9 > avg.history[-1].client_accuracy


def test_result_saves_checksummed_and_signed(tmp_path: Path) -> None:
    res = simulate(strategy="scaffold", num_clients=3, rounds=1)
    path = res.save(tmp_path / "model.safetensors", key=b"secret")
    tensors = serialization.load(path, key=b"secret")
    assert torch.equal(
        res.spec.flatten({k[6:]: v for k, v in tensors.items() if k.startswith("model.")}),
        res.params,
    )
    assert "state.control" in tensors
    config = FederatedConfig.model_validate_json(
        serialization.read_metadata(path.read_bytes())["config"]
    )
    assert config == res.config
    with pytest.raises(SignatureError):
        serialization.load(path, key=b"other")
    raw = bytearray(path.read_bytes())
    raw[-3] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(IntegrityError):
        serialization.load(path, key=b"secret")


@pytest.mark.parametrize(
    ("values", "error", "message"),
    [
        ({"strategy": "fedsgd"}, UnknownNameError, "fedavg, fedavgm, fednova, fedprox"),
        ({"engine": "jax"}, UnknownNameError, "flower, sequential, vectorized"),
        ({"partition": "pathological"}, UnknownNameError, "dirichlet, iid"),
        ({"fraction": 0.0}, FederatedError, r"fraction must be in \(0, 1\]"),
        ({"fraction": 1.5}, FederatedError, r"fraction must be in \(0, 1\]"),
        ({"alpha": 0.0}, FederatedError, "alpha must be > 0"),
        ({"rounds": 0}, FederatedError, "rounds"),
        ({"learning_rate": 0.1}, FederatedError, "learning_rate"),
    ],
)
def test_bad_configs_are_clear_errors(values: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        simulate(**values)


def test_a_partition_that_leaves_a_client_empty_is_refused() -> None:
    from vega_lab.errors import PartitionError

    with pytest.raises(PartitionError, match=r"no data|at least one"):
        simulate(num_clients=2000, rounds=1)
    with pytest.raises(PartitionError, match="too few for a local test split"):
        simulate(num_clients=1000, rounds=1, client_test_fraction=0.2)
