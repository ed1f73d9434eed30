"""The strategy interface: what a client does differently in local training and how the server
turns client updates into the next global model.

Everything is tensor maths over flat parameters: the server model is ``[n]``, client quantities are
``[C, n]`` (C clients stacked), so one implementation serves the vectorized engine (all clients at
once), the sequential engine (C = 1) and Flower. State is a ``dict[str, Tensor]`` passed in and
returned, never kept on the object, so it saves to safetensors and two runs with one seed agree.

The round template (`aggregate`) is: validate -> `average` (the pseudo-gradient) ->
`server_update`. A new algorithm overrides the few hooks it needs.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

import torch

from vega_lab.errors import FederatedError, ShapeMismatchError

State = dict[str, torch.Tensor]


@dataclass(frozen=True)
class ClientUpdates:
    """What the sampled clients send back in one round (stacked over clients)."""

    deltas: torch.Tensor  # [C, n]: local params - global params
    num_examples: torch.Tensor  # [C]: training examples seen per epoch (the FedAvg weight)
    num_steps: torch.Tensor  # [C]: local SGD steps taken (FedNova's tau, SCAFFOLD's K)
    extras: Mapping[str, torch.Tensor] = field(default_factory=dict)  # strategy uplink, [C, n]

    def __post_init__(self) -> None:
        c = self.deltas.shape[0] if self.deltas.dim() == 2 else -1
        if c < 1:
            raise ShapeMismatchError(
                f"client deltas must be [clients, params], got {list(self.deltas.shape)}"
            )
        for name, t in (("num_examples", self.num_examples), ("num_steps", self.num_steps)):
            if t.shape != (c,):
                raise ShapeMismatchError(f"{name} must have shape [{c}], got {list(t.shape)}")
        for name, t in self.extras.items():
            if t.shape != self.deltas.shape:
                raise ShapeMismatchError(
                    f"extra {name!r} has shape {list(t.shape)}, expected {list(self.deltas.shape)}"
                )


class Strategy(ABC):
    """Base class; subclasses set ``name`` and override hooks. Options are constructor kwargs."""

    name: ClassVar[str]
    #: True when aggregating identical client models returns exactly that model.
    averaging: ClassVar[bool] = True
    #: True when clients count by their example counts; robust rules give each client one vote
    #: instead, since a Byzantine client can claim any count.
    weighted: ClassVar[bool] = True
    #: True when ``aggregate`` adds random noise (DP): drawn from generators seeded by the state,
    #: so one state gives one result, but the result is not the noise-free aggregate.
    noisy: ClassVar[bool] = False
    #: Weight of the proximal term mu/2 ||w - w_global||^2 in local training (FedProx).
    prox_mu: float = 0.0
    #: Ditto-style personalization: lambda > 0 trains a personal model per client.
    personal_lambda: float = 0.0

    def init_state(self, params: torch.Tensor, num_clients: int) -> State:
        """Server state before round 0."""
        return {}

    def init_client_state(self, params: torch.Tensor) -> State:
        """One client's state before it first trains (``[n]`` tensors)."""
        return {}

    def broadcast(self, state: State) -> State:
        """Tensors the server sends each sampled client besides the global model."""
        return {}

    def correction(
        self,
        params: torch.Tensor,
        global_params: torch.Tensor,
        broadcast: State,
        client_state: State,
    ) -> torch.Tensor | None:
        """Added to every local gradient; ``params`` is ``[C, n]`` (or ``[n]``)."""
        if self.prox_mu:
            return self.prox_mu * (params - global_params)
        return None

    def client_finish(
        self,
        global_params: torch.Tensor,
        local_params: torch.Tensor,
        num_steps: torch.Tensor,
        lr: float,
        broadcast: State,
        client_state: State,
    ) -> tuple[State, State]:
        """After local training: (extra uplink tensors, new client state)."""
        return {}, client_state

    def weights(self, updates: ClientUpdates) -> torch.Tensor:
        """Aggregation weights, normalised; by default proportional to examples (FedAvg)."""
        w = updates.num_examples.to(updates.deltas.dtype)
        total = w.sum()
        if not total > 0:
            raise FederatedError("aggregation weights sum to zero", "no client reported examples")
        return w / total

    def average(self, updates: ClientUpdates) -> torch.Tensor:
        """The pseudo-gradient: the weighted mean client delta."""
        return (self.weights(updates)[:, None] * updates.deltas).sum(0)

    def contributions(self, updates: ClientUpdates) -> torch.Tensor:
        """Each client's coefficient in the pseudo-gradient (``[C]``, averaged over coordinates;
        0 for a client a robust rule discarded): what the audit log records as aggregated."""
        return self.weights(updates)

    def min_clients(self) -> int:
        """Fewest clients a round may have; robust rules refuse fewer (their guarantee needs
        n > g(f))."""
        return 1

    def plan_run(self, *, num_clients: int, per_round: int, rounds: int, seed: int) -> None:
        """Told the run's shape before round 0 (and before `init_state`); a no-op unless the
        strategy derives something from it (DP: the sample rate, noise for a target epsilon,
        the fixed averaging denominator, the noise seed)."""
        return None

    def uplink(
        self, deltas: torch.Tensor, clients: torch.Tensor, state: State
    ) -> tuple[torch.Tensor, State]:
        """What each participant does to its ``[C, n]`` update before sending it (``clients``:
        their ids, in row order); the identity unless the clients privatize (local DP)."""
        return deltas, state

    def epsilon(self, state: State) -> float:
        """Client-level epsilon spent so far; ``inf`` for a strategy without a DP guarantee."""
        return math.inf

    @abstractmethod
    def server_update(
        self, params: torch.Tensor, delta: torch.Tensor, updates: ClientUpdates, state: State
    ) -> tuple[torch.Tensor, State]:
        """Apply the averaged delta; return the new global params and state (new tensors)."""

    def aggregate(
        self, params: torch.Tensor, updates: ClientUpdates, state: State
    ) -> tuple[torch.Tensor, State]:
        if updates.deltas.shape[1] != params.shape[0]:
            raise ShapeMismatchError(
                f"client updates have {updates.deltas.shape[1]} parameters, "
                f"the global model has {params.shape[0]}",
                "every client must use the same architecture as the server",
            )
        return self.server_update(params, self.average(updates), updates, state)

    def options(self) -> dict[str, float]:
        """The hyperparameters, for the run record."""
        return {k: v for k, v in vars(self).items() if isinstance(v, int | float)}
