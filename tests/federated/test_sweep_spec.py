"""experiments/sweeps/federated_noniid.yaml loads, and every run it expands to is a parameter set
experiments/federated.ipynb declares and a valid FederatedConfig."""

from __future__ import annotations

from tests.conftest import REPO
from vega_lab.experiments.parameters import check_parameters, declared_parameters
from vega_lab.experiments.spec import load_spec
from vega_lab.federated import STRATEGIES, FederatedConfig

SPEC = REPO / "experiments" / "sweeps" / "federated_noniid.yaml"


def test_federated_noniid_sweep_validates_against_its_notebook() -> None:
    spec, notebook = load_spec(SPEC)
    assert spec.name == "federated_noniid"
    assert notebook == (REPO / "experiments" / "federated.ipynb").resolve()
    strategies = ["fedavg", "fedprox", "scaffold", "fednova", "fedavgm"]
    assert spec.grid["strategy"] == strategies and set(strategies) <= set(STRATEGIES)
    assert spec.grid["partition"] == ["dirichlet", "iid"] and spec.parameters["alpha"] == 0.1

    declared = declared_parameters(notebook)
    defaults = {name: d.default for name, d in declared.items()}
    runs = spec.expand()
    assert len(runs) == len(strategies) * 2 * len(spec.seed_list())
    for params, seed in runs:
        values = {**params, "seed": seed}
        check_parameters(notebook, values, declared)
        config = FederatedConfig.make(**{**defaults, **values})  # the notebook's own mapping
        assert (config.strategy, config.partition, config.seed) == (
            params["strategy"],
            params["partition"],
            seed,
        )


def test_niid_bench_sweep_is_one_label_per_client_on_mnist() -> None:
    spec, notebook = load_spec(REPO / "experiments" / "sweeps" / "niid_bench_mnist.yaml")
    declared = declared_parameters(notebook)
    defaults = {name: d.default for name, d in declared.items()}
    runs = spec.expand()
    assert len(runs) == 4 * 3
    for params, seed in runs:
        values = {**params, "seed": seed}
        check_parameters(notebook, values, declared)
        config = FederatedConfig.make(**{**defaults, **values})
        assert (config.dataset, config.partition, config.labels_per_client) == (
            "mnist",
            "shards",
            1,
        )
        assert config.num_clients == 10


def test_robustness_matrix_sweep_validates_against_its_notebook() -> None:
    from vega_lab.federated.attacks import ATTACKS

    spec, notebook = load_spec(REPO / "experiments" / "sweeps" / "robustness_matrix.yaml")
    assert notebook == (REPO / "experiments" / "robustness_matrix.ipynb").resolve()
    declared = declared_parameters(notebook)
    runs = spec.expand()
    assert len(runs) == 3
    for params, seed in runs:
        check_parameters(notebook, {**params, "seed": seed}, declared)
        assert set(params["aggregators"]) <= set(STRATEGIES)
        assert set(params["attacks"]) <= set(ATTACKS) and len(params["attacks"]) == 6
        assert params["fractions"] == [0.0, 0.1, 0.2, 0.3] and params["num_clients"] == 100
