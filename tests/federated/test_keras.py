"""KerasModel: a Keras 3 (TensorFlow) model trained by the torch engines through a flat vector."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from vega_lab.errors import FederatedError
from vega_lab.federated import simulate
from vega_lab.federated.model import TorchModel

# tensorflow is imported lazily (by the fixtures, through the adapter, so after torch and triton),
# which lets the import-clash subprocess start first and run beside the in-process tests
if importlib.util.find_spec("tensorflow") is None:
    pytest.skip("tensorflow is not installed", allow_module_level=True)

REPO = Path(__file__).resolve().parents[2]
RUN = {"engine": "sequential", "num_clients": 4, "rounds": 3, "local_epochs": 2, "seed": 0}

CLASH_CHECK = """
import torch
from vega_lab.federated.keras_model import KerasModel
import keras

net = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
model = KerasModel(net)
flat = model.initial_params()
x, y, mask = torch.rand(8, 4), torch.randint(0, 3, (8,)), torch.ones(8)
loss, grad = model.loss_and_grad(flat, x, y, mask)
flat = flat - 0.1 * grad
assert model.loss_and_grad(flat, x, y, mask)[0] < loss

lin = torch.nn.Linear(4, 3)
opt = torch.optim.SGD(lin.parameters(), lr=0.1)
torch.nn.functional.cross_entropy(lin(x), y).backward()
opt.step()
print("BOTH-OK")
"""


@pytest.fixture(scope="module", autouse=True)
def clash_process() -> Iterator[subprocess.Popen[str]]:
    """Started before this module's first test (it takes ~30 s of imports); checked last."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(REPO)}
    env.pop("KERAS_BACKEND", None)
    proc = subprocess.Popen(
        [sys.executable, "-c", CLASH_CHECK],
        cwd=REPO,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    yield proc
    if proc.poll() is None:
        proc.kill()
        proc.communicate()


@pytest.fixture(scope="module")
def KerasModel() -> type:  # the class, imported lazily
    from vega_lab.federated.keras_model import KerasModel

    return KerasModel


def _keras() -> Any:
    from vega_lab.federated import keras_model  # torch and triton before tensorflow

    return keras_model.keras


def keras_mlp(sizes: tuple[int, ...] = (64, 32, 10), *, softmax: bool = False) -> Any:
    keras = _keras()
    layers: list[Any] = [keras.Input((sizes[0],))]
    for i, width in enumerate(sizes[1:]):
        last = i == len(sizes) - 2
        act = ("softmax" if softmax else None) if last else "relu"
        init = keras.initializers.GlorotUniform(seed=i + 1)
        layers.append(keras.layers.Dense(width, act, kernel_initializer=init))
    return keras.Sequential(layers)


def torch_twin(net: Any) -> torch.nn.Sequential:
    """The same MLP in torch, weights copied (Keras kernels are [in, out], torch [out, in])."""
    keras = _keras()
    dense = [layer for layer in net.layers if isinstance(layer, keras.layers.Dense)]
    mods: list[torch.nn.Module] = []
    for i, layer in enumerate(dense):
        kernel, bias = (torch.from_numpy(w.numpy()) for w in (layer.kernel, layer.bias))
        lin = torch.nn.Linear(*kernel.shape)
        with torch.no_grad():
            lin.weight.copy_(kernel.T)
            lin.bias.copy_(bias)
        mods += [lin, torch.nn.ReLU()] if i < len(dense) - 1 else [lin]
    return torch.nn.Sequential(*mods)


def _max_err(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return (a - b).abs().max().item()


def test_fedavg_trains_a_keras_mlp(KerasModel: type) -> None:
    model = KerasModel(keras_mlp())
    assert model.spec.shapes == ((64, 32), (32,), (32, 10), (10,))
    assert len(set(model.spec.names)) == 4
    assert model.initial_params().dtype == torch.float32
    assert model.initial_params().shape == (model.spec.size,) == (2410,)
    result = simulate(model=model, strategy="fedavg", **RUN)
    acc = result.frame()["accuracy"].tolist()
    assert len(acc) == 3
    assert acc[-1] > 0.6, acc  # chance is 0.1
    assert acc[-1] > acc[0] + 0.05, acc
    assert result.spec == model.spec
    # the result goes back into the Keras model and Keras agrees with the adapter's evaluation
    net = model.load_params(result.params)
    x = torch.rand(5, 64)
    assert _max_err(torch.from_numpy(net(x.numpy()).numpy()), model.logits(result.params, x)) < 1e-5


@pytest.mark.parametrize("strategy", ["scaffold", "fedprox"])
def test_corrected_strategies_train_a_keras_mlp(KerasModel: type, strategy: str) -> None:
    result = simulate(model=KerasModel(keras_mlp()), strategy=strategy, **RUN)
    acc = result.frame()["accuracy"].tolist()
    assert acc[-1] > 0.6 and acc[-1] > acc[0] + 0.05, acc
    if strategy == "scaffold":
        assert result.state, "SCAFFOLD keeps its server control variate"


def test_softmax_output_with_from_logits_false(KerasModel: type) -> None:
    result = simulate(model=KerasModel(keras_mlp(softmax=True), from_logits=False), **RUN)
    assert result.final_accuracy > 0.6


def test_vectorized_engine_refuses_keras(KerasModel: type) -> None:
    with pytest.raises(FederatedError, match="sequential"):
        simulate(model=KerasModel(keras_mlp()), **{**RUN, "engine": "vectorized"})


def test_unbuilt_or_wrong_models_fail_clearly(
    KerasModel: type, monkeypatch: pytest.MonkeyPatch
) -> None:
    keras = _keras()
    unbuilt = keras.Sequential([keras.layers.Dense(10)])
    with pytest.raises(FederatedError, match="not built") as info:
        KerasModel(unbuilt)
    assert "input_shape" in str(info.value) and "keras.Input" in str(info.value)
    with pytest.raises(FederatedError, match=r"keras\.Model"):
        KerasModel(torch.nn.Linear(3, 2))
    bn = keras.Sequential(
        [keras.Input((4,)), keras.layers.BatchNormalization(), keras.layers.Dense(2)]
    )
    with pytest.raises(FederatedError, match="BatchNormalization"):
        KerasModel(bn)
    model = KerasModel(keras_mlp())
    with pytest.raises(FederatedError, match="parameters"):
        model.logits(torch.zeros(7), torch.zeros(2, 64))
    with pytest.raises(FederatedError, match="batch of shape"):
        model.logits(model.initial_params(), torch.zeros(2, 63))
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    with pytest.raises(FederatedError, match="KERAS_BACKEND=tensorflow"):
        KerasModel(keras_mlp())


def test_loss_and_gradient_match_torch(KerasModel: type) -> None:
    net = keras_mlp()
    km, tm = KerasModel(net), TorchModel(torch_twin(net))
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(13, 64, generator=gen)
    y = torch.randint(0, 10, (13,), generator=gen)
    mask = (torch.rand(13, generator=gen) > 0.3).float()
    mask[0] = 0.0
    kflat, tflat = km.initial_params(), tm.initial_params()

    kloss, kgrad = km.loss_and_grad(kflat, x, y, mask)
    tloss, tgrad = tm.loss_and_grad(tflat, x, y, mask)
    assert kloss.dtype == kgrad.dtype == torch.float32
    assert kgrad.shape == kflat.shape and kloss.dim() == 0
    assert abs(kloss.item() - tloss.item()) < 1e-5
    assert kloss.item() > 1.0  # a real loss, not a trivially equal 0
    kg, tg = km.spec.unflatten(kgrad), tm.spec.unflatten(tgrad)
    # both list kernel/weight then bias, layer by layer
    assert [n.rsplit("/", 1)[-1] for n in km.spec.names] == ["kernel", "bias"] * 2
    assert tm.spec.names == ("0.weight", "0.bias", "2.weight", "2.bias")
    for kname, tname in zip(km.spec.names, tm.spec.names, strict=True):
        want = tg[tname]
        got = kg[kname].T if kname.endswith("kernel") else kg[kname]
        assert want.abs().max() > 0, tname
        assert _max_err(got, want) < 1e-5, (kname, tname)
    # logits agree too, and the masked-out rows really are ignored
    assert _max_err(km.logits(kflat, x), tm.logits(tflat, x)) < 1e-5
    y2 = y.clone()
    y2[mask == 0] = (y2[mask == 0] + 1) % 10
    loss2, grad2 = km.loss_and_grad(kflat, x, y2, mask)
    assert abs(loss2.item() - kloss.item()) < 1e-6 and _max_err(grad2, kgrad) < 1e-6
    zero_loss, zero_grad = km.loss_and_grad(kflat, x, y, torch.zeros(13))
    assert zero_loss.item() == 0.0 and zero_grad.abs().max().item() == 0.0


@pytest.mark.parametrize("strategy", ["scaffold", "fedadam"])
def test_simulation_matches_the_torch_twin(KerasModel: type, strategy: str) -> None:
    """Same weights, same data order: the Keras run follows the torch run step for step."""
    net = keras_mlp()
    twin = torch_twin(net)
    run = {**RUN, "rounds": 2, "local_epochs": 1}
    kres = simulate(model=KerasModel(net), strategy=strategy, **run)
    tres = simulate(model=twin, strategy=strategy, **run)
    kp, tp = kres.spec.unflatten(kres.params), tres.spec.unflatten(tres.params)
    for kname, tname in zip(kres.spec.names, tres.spec.names, strict=True):
        got = kp[kname].T if kname.endswith("kernel") else kp[kname]
        assert _max_err(got, tp[tname]) < 1e-4, (kname, tname)
    kacc, tacc = kres.frame()["accuracy"].tolist(), tres.frame()["accuracy"].tolist()
    assert max(abs(a - b) for a, b in zip(kacc, tacc, strict=True)) <= 1 / 300, (kacc, tacc)


def test_keras_then_torch_optimizer_in_one_process(clash_process: subprocess.Popen[str]) -> None:
    """The LLVM clash guard: tensorflow (via the adapter), then a torch optimizer step, in a fresh
    process (a clash aborts it: LLVM ERROR or a segfault)."""
    out, err = clash_process.communicate(timeout=300)
    assert clash_process.returncode == 0, (clash_process.returncode, out[-2000:], err[-4000:])
    assert "BOTH-OK" in out
