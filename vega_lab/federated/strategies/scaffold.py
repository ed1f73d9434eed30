"""SCAFFOLD (Karimireddy et al. 2020): server and client control variates c, c_i correct each
local gradient by (c - c_i), cancelling client drift. Option II control update:
c_i+ = c_i - c + (x - y_i) / (K * lr)."""

from __future__ import annotations

import torch

from vega_lab.federated.strategies.base import ClientUpdates, State, Strategy


class Scaffold(Strategy):
    name = "scaffold"

    def __init__(self, server_lr: float = 1.0) -> None:
        self.server_lr = server_lr

    def init_state(self, params: torch.Tensor, num_clients: int) -> State:
        return {
            "control": torch.zeros_like(params),
            "num_clients": torch.tensor(float(num_clients)),
        }

    def init_client_state(self, params: torch.Tensor) -> State:
        return {"control": torch.zeros_like(params)}

    def broadcast(self, state: State) -> State:
        return {"control": state["control"]}

    def correction(
        self,
        params: torch.Tensor,
        global_params: torch.Tensor,
        broadcast: State,
        client_state: State,
    ) -> torch.Tensor | None:
        return broadcast["control"] - client_state["control"]

    def client_finish(
        self,
        global_params: torch.Tensor,
        local_params: torch.Tensor,
        num_steps: torch.Tensor,
        lr: float,
        broadcast: State,
        client_state: State,
    ) -> tuple[State, State]:
        c_i = client_state["control"]
        k = num_steps.to(local_params.dtype).clamp(min=1.0)
        if local_params.dim() == 2:
            k = k[:, None]
        worked = (num_steps > 0).to(local_params.dtype)
        if local_params.dim() == 2:
            worked = worked[:, None]
        new_c_i = c_i + worked * (-broadcast["control"] + (global_params - local_params) / (k * lr))
        return {"control_delta": new_c_i - c_i}, {"control": new_c_i}

    def server_update(
        self, params: torch.Tensor, delta: torch.Tensor, updates: ClientUpdates, state: State
    ) -> tuple[torch.Tensor, State]:
        dc = updates.extras["control_delta"].mean(0)
        share = updates.deltas.shape[0] / state["num_clients"]
        return params + self.server_lr * delta, {**state, "control": state["control"] + share * dc}
