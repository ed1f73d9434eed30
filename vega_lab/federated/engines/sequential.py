"""The sequential engine: one client after another through `train_client`. Any `FlatModel`
(torch or Keras); the correctness reference for the vectorized engine."""

from __future__ import annotations

import torch

from vega_lab.federated.client import train_client
from vega_lab.federated.config import FederatedConfig
from vega_lab.federated.data import FederatedData
from vega_lab.federated.model import FlatModel
from vega_lab.federated.rounds import RoundJob, RoundOutput
from vega_lab.federated.strategies import ClientUpdates, Strategy


class SequentialEngine:
    name = "sequential"

    def __init__(
        self, config: FederatedConfig, data: FederatedData, model: FlatModel, strategy: Strategy
    ) -> None:
        self.config, self.model, self.strategy = config, model, strategy
        self.clients = [data.client(c) for c in range(data.num_clients)]

    def train_round(self, job: RoundJob) -> RoundOutput:
        deltas, examples, steps, metrics = [], [], [], []
        extras: dict[str, list[torch.Tensor]] = {}
        states: dict[str, list[torch.Tensor]] = {}
        for i, cid in enumerate(job.clients.tolist()):
            own_state = {k: v[i] for k, v in job.client_states.items()}
            delta, k, extra, new_state, m = train_client(
                self.model,
                self.clients[cid],
                cid=cid,
                config=self.config,
                strategy=self.strategy,
                rnd=job.rnd,
                global_params=job.params,
                broadcast=job.broadcast,
                client_state=own_state,
                work=float(job.work[i]),
            )
            deltas.append(delta)
            examples.append(float(len(self.clients[cid].y)))
            steps.append(float(k))
            metrics.append(m)
            for key, t in extra.items():
                extras.setdefault(key, []).append(t)
            for key, t in new_state.items():
                states.setdefault(key, []).append(t)
        updates = ClientUpdates(
            torch.stack(deltas),
            torch.tensor(examples),
            torch.tensor(steps),
            {k: torch.stack(v) for k, v in extras.items()},
        )
        return RoundOutput(updates, {k: torch.stack(v) for k, v in states.items()}, metrics)
