"""The competitor: FedAvg written the way Flower's own quickstart writes it (Message API,
`flwr.serverapp.strategy.FedAvg`, a ClientApp training a torch module with `torch.optim.SGD`),
run through `run_simulation` on the Ray backend. Only the data split and the initial weights come
from vega_lab, so both sides start from the same place."""

from __future__ import annotations

from typing import Any

import torch  # before flwr, which imports tensorflow when installed (see ENVIRONMENT.md)

from vega_lab.federated.config import FederatedConfig
from vega_lab.federated.data import build_data
from vega_lab.federated.engines.flower_runtime import (
    prepare_flower_environment,
    simulate_on_ray,
)
from vega_lab.federated.simulation import default_module


def plain_sgd(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    lr: float,
    batch_size: int,
    examples: int,
    generator: torch.Generator,
) -> None:
    """The textbook loop (reshuffle each pass, ``torch.optim.SGD``) until ``examples``
    example-gradients are done."""
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    done = 0
    while done < examples:
        perm = torch.randperm(len(y), generator=generator)
        for i in range(0, len(y), batch_size):
            idx = perm[i : i + batch_size][: examples - done]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
            done += len(idx)
            if done >= examples:
                return


def run_flower_fedavg(config: FederatedConfig) -> dict[str, Any]:
    """Wall time of `run_simulation` (Ray start-up included) and the final global accuracy."""
    prepare_flower_environment()
    from flwr.app import ArrayRecord, Context, Message, MetricRecord, RecordDict
    from flwr.clientapp import ClientApp
    from flwr.serverapp import Grid, ServerApp
    from flwr.serverapp.strategy import FedAvg

    cfg_json = config.model_dump_json()
    client_app = ClientApp()

    @client_app.train()
    def train(msg: Message, context: Context) -> Message:
        cfg = FederatedConfig.model_validate_json(cfg_json)
        data = build_data(cfg).client(int(context.node_config["partition-id"]))
        model = default_module(cfg)
        model.load_state_dict(msg.content["arrays"].to_torch_state_dict())
        gen = torch.Generator().manual_seed(cfg.seed + int(msg.content["config"]["server-round"]))
        x, y = torch.from_numpy(data.x), torch.from_numpy(data.y)
        plain_sgd(
            model,
            x,
            y,
            lr=cfg.lr,
            batch_size=cfg.batch_size,
            examples=cfg.local_epochs * len(y),
            generator=gen,
        )
        content = RecordDict(
            {
                "arrays": ArrayRecord(model.state_dict()),
                "metrics": MetricRecord({"num-examples": len(y)}),
            }
        )
        return Message(content=content, reply_to=msg)

    server_app = ServerApp()
    out: dict[str, Any] = {}

    @server_app.main()
    def main(grid: Grid, context: Context) -> None:
        strategy = FedAvg(
            fraction_train=config.fraction,
            fraction_evaluate=0.0,
            min_train_nodes=1,
            min_available_nodes=config.num_clients,
        )
        result = strategy.start(
            grid=grid,
            initial_arrays=ArrayRecord(default_module(config).state_dict()),
            num_rounds=config.rounds,
        )
        out["state_dict"] = result.arrays.to_torch_state_dict()

    # Ray workers import flwr, which imports tensorflow: without triton loaded first, the first
    # torch optimizer step segfaults (ENVIRONMENT.md). The same worker hook as our flower engine.
    seconds = simulate_on_ray(server_app, client_app, config.num_clients)
    if not out.get("state_dict"):
        from vega_lab.errors import FederatedError

        raise FederatedError(
            "the Flower run ended without a global model",
            "a ClientApp failed: see Flower's log above",
        )
    data = build_data(config)
    model = default_module(config)
    model.load_state_dict(out["state_dict"])
    with torch.no_grad():
        acc = (model(data.x_test).argmax(1) == data.y_test).float().mean().item()
    return {"seconds": seconds, "accuracy": acc}
