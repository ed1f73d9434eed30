"""DP-FedAvg: client-level differential privacy around a FedAvg-style server step.

Central mode (McMahan et al. 2018, "Learning Differentially Private Recurrent Language
Models"): the server clips every client's update to norm C and averages with a fixed
denominator m (the clients sampled per round, not the number that report), so adding or
removing one client moves the average by at most C / m whatever it sent; it then adds
N(0, (z C / m)^2) per coordinate. The average is unweighted: example weights would let one
client's weight, not just its update, move the model.

Adaptive clipping (Andrew et al. 2021, "Differentially Private Learning with Adaptive
Clipping"): C follows C <- C exp(-eta (b - gamma)) where b is the noisy fraction of updates no
longer than C, so C tracks the gamma-quantile of update norms. The count gets noise sigma_b
(default m / 20, the paper's choice) and the update noise shrinks to
z_delta = (z^-2 - (2 sigma_b)^-2)^(-1/2), so the two releases together are worth one Gaussian
mechanism with multiplier z. Flower's wrapper updates C before noising; here the noise uses the
C that clipped this round's updates, which is the C the sensitivity argument needs.

Local mode (``dp_mode="local"``): every client clips its own update and adds N(0, (z C)^2)
before it leaves the client (the round loop calls `uplink` before compression); the server
only averages. Each client's epsilon counts its own participations with no sampling
amplification and replace-one adjacency (sensitivity 2C), so z/2 is its multiplier.

Accounting (`vega_lab.privacy`): central epsilon is the accountant's for sample rate
q = m / N, multiplier z and one step per aggregated round (q = 1 with fraction 1.0). The
accountant models Poisson sampling; rounds here sample exactly m clients, the usual
approximation (TFF and Flower account the same way). ``target_epsilon`` picks z for the planned
rounds. Noise comes from generators seeded by (seed, step, client) held in the strategy state,
so two runs with one seed agree and every engine draws the same noise.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from vega_lab.errors import FederatedError, PrivacyError, ShapeMismatchError
from vega_lab.federated.strategies.base import ClientUpdates, State, Strategy
from vega_lab.federated.strategies.dp_mechanism import (
    adaptive_noise,
    check_adaptive,
    check_options,
    clip_rows,
    noise_generator,
)
from vega_lab.federated.strategies.fedavg import FedAvg
from vega_lab.federated.strategies.fedavgm import FedAvgM
from vega_lab.registry import check_name

MODES = ("central", "local")
CLIPPINGS = ("fixed", "adaptive")
_DP = "dp_"  # prefix of this wrapper's state keys; the rest belongs to the inner strategy
_SALT_CENTRAL, _SALT_COUNT, _SALT_LOCAL = 1, 2, 3


class DPFedAvg(Strategy):
    """Client-level DP wrapper; ``inner`` (default FedAvg, or FedAvgM with
    ``server_momentum``) applies the noisy average. Options are floats or names, so a config's
    ``strategy_options`` reaches every one."""

    name = "dp_fedavg"
    averaging = False  # identical updates come back clipped and noised
    weighted = False  # one client, one vote: the sensitivity is C / m, not C * weight
    noisy = True  # aggregate draws noise (seeded from its state)

    def __init__(
        self,
        clip_norm: float = 1.0,
        noise_multiplier: float | None = None,
        *,
        target_epsilon: float | None = None,
        delta: float = 1e-5,
        clipping: str = "fixed",
        dp_mode: str = "central",
        target_quantile: float = 0.5,
        clip_lr: float = 0.2,
        count_noise: float | None = None,
        accountant: str = "prv",
        server_lr: float = 1.0,
        server_momentum: float = 0.0,
        inner: Strategy | None = None,
    ) -> None:
        from vega_lab.privacy import ACCOUNTANTS

        check_options(
            clip_norm=clip_norm,
            noise_multiplier=noise_multiplier,
            target_epsilon=target_epsilon,
            delta=delta,
        )
        self.clip_norm = float(clip_norm)
        self.mode = check_name(dp_mode, MODES, "dp mode")
        self.clipping = check_name(clipping, CLIPPINGS, "clipping")
        if self.mode == "local" and self.clipping == "adaptive":
            raise FederatedError(
                "adaptive clipping needs the server's noisy count, so it is central DP only",
                "use dp_mode='central' or clipping='fixed'",
            )
        check_adaptive(target_quantile=target_quantile, clip_lr=clip_lr, count_noise=count_noise)
        self.target_quantile, self.clip_lr = float(target_quantile), float(clip_lr)
        self.count_noise = count_noise
        self.accountant = check_name(accountant, ACCOUNTANTS, "accountant")
        self.noise_multiplier, self.target_epsilon = noise_multiplier, target_epsilon
        self.delta = float(delta)
        if inner is None:
            inner = FedAvgM(server_lr, server_momentum) if server_momentum else FedAvg(server_lr)
        if type(inner).weights is not Strategy.weights or type(inner).average is not (
            Strategy.average
        ):
            raise FederatedError(
                f"dp_fedavg cannot wrap {inner.name!r}: it reweights the client updates",
                "wrap a strategy whose pseudo-gradient is the mean update (fedavg, fedavgm, "
                "fedprox, fedadam, fedyogi, fedadagrad, ditto)",
            )
        self.inner = inner
        self.prox_mu, self.personal_lambda = inner.prox_mu, inner.personal_lambda
        # the run's shape, set by plan_run; unplanned, every reporting client is the denominator
        self.num_clients: int | None = None
        self.per_round: int | None = None
        self.rounds: int | None = None
        self.seed = 0
        self.z = 1.0 if noise_multiplier is None and target_epsilon is None else noise_multiplier
        self._eps_cache: dict[tuple[float, float, int], float] = {}

    # --- the run's shape and the noise it implies ----------------------------------------------

    def plan_run(self, *, num_clients: int, per_round: int, rounds: int, seed: int) -> None:
        self.num_clients, self.per_round, self.rounds, self.seed = (
            num_clients,
            per_round,
            rounds,
            seed,
        )
        if self.target_epsilon is not None:
            self.z = self._noise_for_target()

    def sample_rate(self) -> float:
        """q = clients per round / clients (1.0 before the run is planned: a safe bound)."""
        if self.mode == "local" or self.num_clients is None or self.per_round is None:
            return 1.0
        return min(1.0, self.per_round / self.num_clients)

    def _noise_for_target(self) -> float:
        from vega_lab.privacy import noise_multiplier_for

        assert self.target_epsilon is not None and self.rounds is not None
        q = self.sample_rate()
        try:
            z = noise_multiplier_for(
                self.target_epsilon,
                q,
                steps=self.rounds,
                delta=self.delta,
                accountant=self.accountant,
            )
        except PrivacyError as exc:
            raise PrivacyError(
                f"client-level target epsilon {self.target_epsilon:g} is unreachable for "
                f"{self.rounds} rounds at sample rate {q:g}, delta {self.delta:g}: {exc.what}",
                "raise target_epsilon or delta, or plan fewer rounds or fewer clients per round",
            ) from None
        return 2 * z if self.mode == "local" else z  # local: replace-one, sensitivity 2C

    def _resolved_z(self) -> float:
        if self.z is None:
            raise FederatedError(
                "target_epsilon needs the run's shape before the first aggregation",
                "run through simulate() (or call plan_run(num_clients=..., per_round=..., "
                "rounds=..., seed=...))",
            )
        return float(self.z)

    def count_noise_for(self, m: int) -> float:
        """sigma_b: as given, else m / 20 (Andrew et al.), raised to z when m / 20 could not
        leave any budget for the updates (that costs at most 15 % more update noise)."""
        if self.count_noise is not None:
            return float(self.count_noise)
        return max(m / 20, self._resolved_z())

    def update_noise(self, m: int) -> float:
        """The noise multiplier applied to the summed updates this round."""
        z = self._resolved_z()
        if self.mode == "central" and self.clipping == "adaptive":
            return adaptive_noise(z, self.count_noise_for(m))
        return z

    # --- accounting ------------------------------------------------------------------------------

    def _eps(self, q: float, z: float, steps: int) -> float:
        from vega_lab.privacy import epsilon

        if steps == 0:
            return 0.0
        if z == 0:
            return math.inf
        key = (q, z, steps)
        if key not in self._eps_cache:
            self._eps_cache[key] = epsilon(
                q, z, steps=steps, delta=self.delta, accountant=self.accountant
            )
        return self._eps_cache[key]

    def epsilon(self, state: State) -> float:
        """Client-level epsilon at ``delta`` spent so far: the run's (central) or the most
        exposed client's (local)."""
        z = self._resolved_z()
        if self.mode == "local":
            uses = state.get(f"{_DP}uses")
            steps = int(uses.max()) if uses is not None and uses.numel() else 0
            return self._eps(1.0, z / 2, steps)
        return self._eps(self.sample_rate(), z, int(state[f"{_DP}step"]))

    def client_epsilons(self, state: State) -> list[float]:
        """Local mode: each client's epsilon from its own participations."""
        if self.mode != "local":
            raise FederatedError("per-client epsilons exist in local mode only")
        z = self._resolved_z()
        return [self._eps(1.0, z / 2, int(k)) for k in state[f"{_DP}uses"].tolist()]

    # --- client side: delegated, plus local DP before sending ------------------------------------

    def init_state(self, params: torch.Tensor, num_clients: int) -> State:
        state = dict(self.inner.init_state(params, num_clients))
        state[f"{_DP}step"] = torch.tensor(0, dtype=torch.int64)
        state[f"{_DP}seed"] = torch.tensor(self.seed, dtype=torch.int64)
        z = math.nan if self.z is None else float(self.z)  # a record: the multiplier in force
        state[f"{_DP}z"] = torch.tensor(z, dtype=torch.float64)
        if self.mode == "central":
            state[f"{_DP}clip"] = torch.tensor(self.clip_norm, dtype=torch.float64)
        else:
            state[f"{_DP}uses"] = torch.zeros(num_clients, dtype=torch.int64)
        return state

    def init_client_state(self, params: torch.Tensor) -> State:
        return self.inner.init_client_state(params)

    def broadcast(self, state: State) -> State:
        return self.inner.broadcast(_inner(state))

    def correction(
        self,
        params: torch.Tensor,
        global_params: torch.Tensor,
        broadcast: State,
        client_state: State,
    ) -> torch.Tensor | None:
        return self.inner.correction(params, global_params, broadcast, client_state)

    def client_finish(
        self,
        global_params: torch.Tensor,
        local_params: torch.Tensor,
        num_steps: torch.Tensor,
        lr: float,
        broadcast: State,
        client_state: State,
    ) -> tuple[State, State]:
        return self.inner.client_finish(
            global_params, local_params, num_steps, lr, broadcast, client_state
        )

    def uplink(
        self, deltas: torch.Tensor, clients: torch.Tensor, state: State
    ) -> tuple[torch.Tensor, State]:
        """Local mode: each client clips to C and adds its own N(0, (z C)^2) noise, drawn from
        its own stream, so the noise does not depend on who else took part. A NaN/Inf row
        passes unchanged: the round loop rejects it, and records why, before aggregation."""
        if self.mode != "local":
            return deltas, state
        finite = torch.isfinite(deltas).all(1, keepdim=True)
        clipped, _ = clip_rows(torch.where(finite, deltas, 0.0), self.clip_norm)
        std = self.update_noise(len(deltas)) * self.clip_norm
        step, seed = int(state[f"{_DP}step"]), int(state[f"{_DP}seed"])
        ids = torch.as_tensor(clients, dtype=torch.int64)
        if std > 0:
            noise = torch.stack(
                [
                    torch.randn(
                        deltas.shape[1],
                        generator=noise_generator(seed, step, _SALT_LOCAL, int(c)),
                        dtype=deltas.dtype,
                    )
                    for c in ids.tolist()
                ]
            )
            clipped = clipped + std * noise
        uses = state[f"{_DP}uses"].to(torch.int64).clone()
        uses[ids] += 1
        return torch.where(finite, clipped, deltas), {**state, f"{_DP}uses": uses}

    # --- server side -----------------------------------------------------------------------------

    def denominator(self, reported: int) -> int:
        """m: the clients sampled per round once planned (fixed, so dropouts cannot raise
        the sensitivity), else the clients that reported."""
        return self.per_round if self.per_round is not None else reported

    def contributions(self, updates: ClientUpdates) -> torch.Tensor:
        """Each client's coefficient: its clipping factor at the initial C over m (local mode:
        1 / clients, its update arrives clipped and noised)."""
        if self.mode == "local":
            return torch.full((len(updates.deltas),), 1 / len(updates.deltas))
        _, norms = clip_rows(updates.deltas, self.clip_norm)
        scale = torch.clamp(self.clip_norm / norms.clamp(min=1e-12), max=1.0)
        return scale / self.denominator(len(norms))

    def average(self, updates: ClientUpdates) -> torch.Tensor:
        """The noise-free pseudo-gradient at the initial clipping norm: the clipped, unweighted,
        fixed-denominator mean (local mode: the plain mean of the privatized updates)."""
        if self.mode == "local":
            return updates.deltas.mean(0)
        clipped, _ = clip_rows(updates.deltas, self.clip_norm)
        return clipped.sum(0) / self.denominator(len(clipped))

    def aggregate(
        self, params: torch.Tensor, updates: ClientUpdates, state: State
    ) -> tuple[torch.Tensor, State]:
        if updates.deltas.shape[1] != params.shape[0]:
            raise ShapeMismatchError(
                f"client updates have {updates.deltas.shape[1]} parameters, "
                f"the global model has {params.shape[0]}",
                "every client must use the same architecture as the server",
            )
        if updates.extras:
            raise FederatedError(
                f"dp_fedavg cannot protect the extra uplink tensors {sorted(updates.extras)}",
                "wrap a strategy that sends only its model update (not scaffold)",
            )
        step, seed = int(state[f"{_DP}step"]), int(state[f"{_DP}seed"])
        m = self.denominator(len(updates.deltas))
        new = {**state, f"{_DP}step": torch.tensor(step + 1, dtype=torch.int64)}
        if self.mode == "local":  # privatized at the clients: any mean is private
            mean = updates.deltas.mean(0)
        else:
            clip = float(state[f"{_DP}clip"])
            clipped, norms = clip_rows(updates.deltas, clip)
            mean = clipped.sum(0) / m
            gen = noise_generator(seed, step, _SALT_CENTRAL)
            std = self.update_noise(m) * clip / m
            if std > 0:
                mean = mean + std * torch.randn(mean.shape, generator=gen, dtype=mean.dtype)
            if self.clipping == "adaptive":
                new[f"{_DP}clip"] = self._next_clip(clip, norms, m, seed, step)
        out, inner_state = self.inner.server_update(params, mean, updates, _inner(state))
        return out, {**inner_state, **{k: v for k, v in new.items() if k.startswith(_DP)}}

    def _next_clip(
        self, clip: float, norms: torch.Tensor, m: int, seed: int, step: int
    ) -> torch.Tensor:
        """C exp(-eta (b - gamma)), b the noisy fraction of updates no longer than C."""
        unclipped = float((norms <= clip).sum())
        sigma_b = self.count_noise_for(m) if self._resolved_z() > 0 else 0.0
        if sigma_b > 0:
            gen = noise_generator(seed, step, _SALT_COUNT)
            unclipped += sigma_b * float(torch.randn(1, generator=gen, dtype=torch.float64))
        frac = unclipped / m
        return torch.tensor(
            clip * math.exp(-self.clip_lr * (frac - self.target_quantile)), dtype=torch.float64
        )

    def server_update(
        self, params: torch.Tensor, delta: torch.Tensor, updates: ClientUpdates, state: State
    ) -> tuple[torch.Tensor, State]:
        out, inner_state = self.inner.server_update(params, delta, updates, _inner(state))
        return out, {**state, **inner_state}

    def options(self) -> dict[str, Any]:
        return {
            "clip_norm": self.clip_norm,
            "noise_multiplier": self.z,
            "target_epsilon": self.target_epsilon,
            "delta": self.delta,
            "clipping": self.clipping,
            "dp_mode": self.mode,
            "target_quantile": self.target_quantile,
            "clip_lr": self.clip_lr,
            "count_noise": self.count_noise,
            "accountant": self.accountant,
            "inner": self.inner.name,
            **{f"inner.{k}": v for k, v in self.inner.options().items()},
        }


def _inner(state: State) -> State:
    return {k: v for k, v in state.items() if not k.startswith(_DP)}
