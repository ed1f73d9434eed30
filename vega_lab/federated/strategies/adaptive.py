"""Shared maths of the adaptive server optimizers of Reddi et al. 2021 (FedAdam, FedYogi,
FedAdagrad): first moment m, second moment v, step eta * m / (sqrt(v) + tau). Each optimizer is
its own module and differs only in how v is updated."""

from __future__ import annotations

import torch

from vega_lab.federated.strategies.base import ClientUpdates, State, Strategy


class AdaptiveServer(Strategy):
    averaging = False

    def __init__(
        self, eta: float = 0.01, beta_1: float = 0.9, beta_2: float = 0.99, tau: float = 1e-3
    ) -> None:
        self.eta, self.beta_1, self.beta_2, self.tau = eta, beta_1, beta_2, tau

    def init_state(self, params: torch.Tensor, num_clients: int) -> State:
        return {"m": torch.zeros_like(params), "v": torch.zeros_like(params)}

    def second_moment(self, v: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def server_update(
        self, params: torch.Tensor, delta: torch.Tensor, updates: ClientUpdates, state: State
    ) -> tuple[torch.Tensor, State]:
        m = self.beta_1 * state["m"] + (1 - self.beta_1) * delta
        v = self.second_moment(state["v"], delta)
        return params + self.eta * m / (v.sqrt() + self.tau), {**state, "m": m, "v": v}
