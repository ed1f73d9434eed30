"""The Flower engine: the shared round loop (`run_rounds`) inside a Flower ``ServerApp``, each
client's round (`train_client`) inside a Flower ``ClientApp``, run by Flower's simulation runtime
on Ray. The code is the one a real SuperLink/SuperNode deployment would run.

What crosses the wire is only what a real deployment may send: model tensors as checksummed
safetensors bytes (`serialization.dumps`, never pickle), the config as JSON, and metrics. Each
client rebuilds its own data share from the config, keeps its strategy state (SCAFFOLD control
variate, Ditto personal model) in its own ``context.state``, and reports only its label
histogram. The server keeps no client state.

Process hygiene (see ENVIRONMENT.md): flwr imports TensorFlow whenever it is installed, only for
a GPU-memory helper; that costs seconds per process (25 s on a busy 2-core machine) and, imported
before torch, can abort torch (two LLVM copies). So torch comes first, and TensorFlow is hidden
while flwr is imported, here and in every Ray worker (torch models). Ray's temp files and
``FLWR_HOME`` go under the project's data folder.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import torch

from vega_lab.errors import FederatedError, ShapeMismatchError, VegaError
from vega_lab.federated.client import evaluate_flat, train_client
from vega_lab.federated.config import FederatedConfig
from vega_lab.federated.data import FederatedData, build_data
from vega_lab.federated.engines.flower_runtime import (
    match_ray_threads,
    prepare_flower_environment,
    ray_backend_config,
    start_ray,
)
from vega_lab.federated.model import FlatModel, ParamSpec, TorchModel
from vega_lab.federated.monitor import RoundMonitor
from vega_lab.federated.result import FederatedResult
from vega_lab.federated.rounds import ClientStates, RoundJob, RoundOutput, RoundRecord, run_rounds
from vega_lab.federated.serialization import dumps, loads
from vega_lab.federated.strategies import ClientUpdates, State, Strategy

if TYPE_CHECKING:
    from flwr.app import Context, Message
    from flwr.serverapp import Grid

__all__ = ["FlowerTrainer", "prepare_flower_environment", "ray_backend_config", "run_flower"]

_STATE_KEY = "vega_lab"
_DATA_CACHE: dict[str, tuple[FederatedData, FederatedConfig]] = {}  # per process, by config
_NODE_WAIT_S = 120.0


# --- tensors on the wire: named per the ParamSpec, so a mismatch names the tensor --------------


def _pack(groups: dict[str, torch.Tensor], spec: ParamSpec) -> bytes:
    """``{"delta": flat [n], ...}`` -> safetensors bytes with keys ``group/param_name``."""
    named = {
        f"{group}/{name}": t
        for group, flat in groups.items()
        for name, t in spec.unflatten(flat).items()
    }
    return dumps(named)


def _unpack(payload: bytes, spec: ParamSpec) -> dict[str, torch.Tensor]:
    """Inverse of `_pack`; every group is checked against ``spec`` (ShapeMismatchError)."""
    groups: dict[str, dict[str, torch.Tensor]] = {}
    for key, t in loads(payload).items():
        group, _, name = key.partition("/")
        groups.setdefault(group, {})[name] = t
    return {g: spec.flatten(named) for g, named in groups.items()}


# --- the client side ---------------------------------------------------------------------------


def _client_data(config_json: str, cid: int) -> tuple[FederatedData, FederatedConfig]:
    """This process's copy of the run's data, built once per config (a Ray actor serves many
    clients and rounds), and the run's config."""
    match_ray_threads()
    if config_json not in _DATA_CACHE:
        if len(_DATA_CACHE) >= 4:
            _DATA_CACHE.clear()
        config = FederatedConfig.model_validate_json(config_json)
        _DATA_CACHE[config_json] = (build_data(config), config)
    data, config = _DATA_CACHE[config_json]
    if not 0 <= cid < data.num_clients:
        raise FederatedError(f"partition-id {cid} is outside 0..{data.num_clients - 1}")
    return data, config


@dataclass
class _ClientWorker:
    """What a Flower SuperNode runs: picklable, so Ray ships it with the ClientApp."""

    model: FlatModel
    strategy: Strategy

    def query(self, message: Message, context: Context) -> Message:
        """First contact: who am I (partition id) and what my labels look like."""
        from flwr.app import Message, MetricRecord, RecordDict

        cid = int(context.node_config["partition-id"])
        data, _ = _client_data(str(message.content.config_records["task"]["config"]), cid)
        stats = cast(dict[str, Any], data.statistics(cid))  # ints and a list of ints
        record = MetricRecord({"partition_id": cid, **stats})
        return Message(RecordDict({"stats": record}), reply_to=message)

    def train(self, message: Message, context: Context) -> Message:
        """One local round via `train_client`; the strategy state stays in ``context.state``."""
        from flwr.app import ConfigRecord, Message, MetricRecord, RecordDict

        task = message.content.config_records["task"]
        cid = int(context.node_config["partition-id"])
        data, config = _client_data(str(task["config"]), cid)
        spec = self.model.spec
        received = _unpack(bytes(task["payload"]), spec)
        params = received.pop("params")
        broadcast = {k.removeprefix("broadcast."): v for k, v in received.items()}
        if _STATE_KEY in context.state.config_records:
            state = loads(bytes(context.state.config_records[_STATE_KEY]["state"]))
        else:
            state = self.strategy.init_client_state(params)
        delta, steps, extras, new_state, metrics = train_client(
            self.model,
            data.client(cid),
            cid=cid,
            config=config,
            strategy=self.strategy,
            rnd=int(task["round"]),
            global_params=params,
            broadcast=broadcast,
            client_state=state,
            work=float(task["work"]),
        )
        context.state[_STATE_KEY] = ConfigRecord({"state": dumps(new_state)})
        payload = _pack({"delta": delta, **{f"extra.{k}": v for k, v in extras.items()}}, spec)
        update = ConfigRecord({"payload": payload})
        done = MetricRecord({**metrics, "num_steps": float(steps)})
        return Message(RecordDict({"update": update, "metrics": done}), reply_to=message)


# --- the server side ---------------------------------------------------------------------------


def _cause(reason: str | None) -> str:
    """The client's own exception line out of the Ray traceback Flower wraps it in."""
    lines = (reason or "unknown error").strip().splitlines()
    found = [ln for ln in lines if re.match(r"[A-Za-z_][\w.]*(Error|Exception): ", ln)]
    return (found or lines)[0][:500]


class _ClientHeldStates(ClientStates):
    """The server's view of client state under Flower: none (clients keep their own)."""

    def __init__(self) -> None:
        self.tensors: State = {}


@dataclass
class FlowerTrainer:
    """A `Trainer` whose clients are Flower SuperNodes reached through a ``Grid``."""

    grid: Grid
    config: FederatedConfig
    spec: ParamSpec
    reply_timeout: float | None
    abort: threading.Event
    nodes: dict[int, int] = field(default_factory=dict)  # partition id -> node id
    stats: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.config_json = self.config.model_dump_json()

    def _ask(self, kind: str, tasks: dict[int, dict[str, Any]], when: str) -> dict[int, Any]:
        """One message per node (node id -> task record); returns each node's reply content.
        A client error or a missing reply raises; so does an aborted run, so that a dead
        runtime never leaves the ServerApp thread waiting forever."""
        from flwr.app import ConfigRecord, Message, RecordDict

        messages = [
            Message(RecordDict({"task": ConfigRecord(t)}), dst_node_id=node, message_type=kind)
            for node, t in tasks.items()
        ]
        pending = set(self.grid.push_messages(messages))
        deadline = None if self.reply_timeout is None else time.monotonic() + self.reply_timeout
        partition_of = {node: cid for cid, node in self.nodes.items()}
        replies: dict[int, Any] = {}
        while pending:
            for reply in self.grid.pull_messages(pending):
                pending.discard(reply.metadata.reply_to_message_id)
                node = reply.metadata.src_node_id
                if reply.has_error():
                    who = partition_of.get(node, f"on node {node}")
                    raise FederatedError(
                        f"Flower client {who} failed {when}: {_cause(reply.error.reason)}",
                        "the ClientApp raised it; the full traceback is in the log above",
                    )
                replies[node] = reply.content
            if pending and self.abort.is_set():
                raise FederatedError("the Flower runtime stopped while the server awaited replies")
            if pending and deadline is not None and time.monotonic() > deadline:
                raise FederatedError(
                    f"{len(pending)} Flower clients sent no reply {when} in {self.reply_timeout} s",
                    "raise reply_timeout, or look for the cause in the Ray worker logs",
                )
            if pending:
                time.sleep(0.02)
        return replies

    def connect(self) -> None:
        """Wait for the SuperNodes and ask each its partition id and label statistics (the
        server only sees node ids; the partition is the node's own config)."""
        n = self.config.num_clients
        deadline = time.monotonic() + _NODE_WAIT_S
        while len(node_ids := list(self.grid.get_node_ids())) < n:
            if time.monotonic() > deadline or self.abort.is_set():
                raise FederatedError(f"only {len(node_ids)} of {n} Flower nodes came up")
            time.sleep(0.05)
        tasks = {node: {"config": self.config_json} for node in node_ids}
        stats: dict[int, dict[str, Any]] = {}
        for node, content in self._ask("query", tasks, "at first contact").items():
            record = content.metric_records["stats"]
            cid = int(record["partition_id"])
            self.nodes[cid] = node
            stats[cid] = {k: record[k] for k in ("num_examples", "label_histogram")}
        if sorted(self.nodes) != list(range(n)):
            raise FederatedError(
                f"Flower nodes hold partitions {sorted(self.nodes)}, not 0..{n - 1}"
            )
        self.stats = [stats[c] for c in range(n)]

    def train_round(self, job: RoundJob) -> RoundOutput:
        down = {"params": job.params, **{f"broadcast.{k}": v for k, v in job.broadcast.items()}}
        task = {"round": job.rnd, "config": self.config_json, "payload": _pack(down, self.spec)}
        ids = [int(c) for c in job.clients.tolist()]
        tasks = {self.nodes[c]: {**task, "work": float(job.work[i])} for i, c in enumerate(ids)}
        replies = self._ask("train", tasks, f"in round {job.rnd}")
        examples, steps, metrics, sent = [], [], [], []
        rejected: dict[int, str] = {}
        for cid in ids:
            content = replies[self.nodes[cid]]
            try:
                got = _unpack(cast(bytes, content.config_records["update"]["payload"]), self.spec)
            except ShapeMismatchError as exc:  # rejected and recorded, never averaged
                rejected[cid] = f"update does not match the global model: {exc}"
                got = {}
            m = {k: float(v) for k, v in content.metric_records["metrics"].items()}
            sent.append({k.removeprefix("extra."): v for k, v in got.items()})
            examples.append(m["num_examples"])
            steps.append(m.pop("num_steps"))
            metrics.append(m)
        keys = {k for c, got in zip(ids, sent, strict=True) if c not in rejected for k in got}
        if any(set(got) != keys for c, got in zip(ids, sent, strict=True) if c not in rejected):
            raise ShapeMismatchError(f"clients sent different uplink extras in round {job.rnd}")
        nan = torch.full((self.spec.size,), math.nan)  # a rejected client's row
        stacked = {k: torch.stack([got.get(k, nan) for got in sent]) for k in keys | {"delta"}}
        deltas = stacked.pop("delta")
        updates = ClientUpdates(deltas, torch.tensor(examples), torch.tensor(steps), stacked)
        return RoundOutput(updates, None, metrics, rejected)


# --- running it --------------------------------------------------------------------------------


def run_flower(
    config: FederatedConfig,
    data: FederatedData,
    model: FlatModel,
    strategy: Strategy,
    *,
    on_round: Callable[[RoundRecord], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    reply_timeout: float | None = 3600.0,
    monitor: RoundMonitor | None = None,
) -> FederatedResult:
    """Run the simulation through Flower (``run_simulation`` on Ray, one SuperNode per client).

    ``model`` travels to the workers with the ClientApp (pickled by Ray like any Flower app), so
    it must be picklable: the default MLP and torch modules are. ``on_round`` and
    ``should_stop`` are called from the ServerApp's thread. Any failure, in the ServerApp or a
    ClientApp, raises here: an empty history is never returned.
    """
    prepare_flower_environment()
    import ray
    from flwr.clientapp import ClientApp
    from flwr.serverapp import ServerApp
    from flwr.simulation import run_simulation

    worker = _ClientWorker(model, strategy)
    client_app = ClientApp()
    client_app.train()(worker.train)
    client_app.query()(worker.query)

    abort = threading.Event()
    outcome: dict[str, Any] = {}
    t0 = time.perf_counter()

    def main(grid: Grid, context: Context) -> None:
        # run_simulation runs this in a thread of this process: results come back by closure
        try:
            trainer = FlowerTrainer(grid, config, model.spec, reply_timeout, abort)
            trainer.connect()
            outcome["setup_seconds"] = time.perf_counter() - t0
            outcome["run"] = run_rounds(
                config,
                trainer=trainer,
                strategy=strategy,
                spec=model.spec,
                initial=model.initial_params(),
                evaluate=lambda p: evaluate_flat(model, p, data.x_test, data.y_test),
                on_round=on_round,
                should_stop=should_stop,
                client_state_store=_ClientHeldStates(),
                monitor=monitor,
            )
            outcome["stats"] = trainer.stats
        except BaseException as exc:  # re-raised in the caller's thread below
            outcome["error"] = exc

    server_app = ServerApp()
    server_app.main()(main)

    backend = ray_backend_config(config.num_clients)
    started, cpus = False, 0
    try:
        started, cpus = start_ray(backend.pop("init_args"), isinstance(model, TorchModel))
        run_simulation(server_app, client_app, config.num_clients, "ray", backend)
    except VegaError:
        raise
    except Exception as exc:
        if "error" not in outcome:  # else the ServerApp's own error is the cause: raised below
            raise FederatedError(f"the Flower simulation failed: {exc}") from exc
    finally:
        abort.set()  # frees a ServerApp thread still waiting on a dead runtime
        if started and ray.is_initialized():
            ray.shutdown()
    if "error" in outcome:
        err = outcome["error"]
        if isinstance(err, VegaError):
            raise err
        raise FederatedError(f"the Flower ServerApp failed: {err!r}") from err
    if "run" not in outcome:
        raise FederatedError("the Flower ServerApp ended without a result", "see the log above")
    params, state, history, client_metrics, reason = outcome["run"]
    if not history and reason == "completed":
        raise FederatedError("the Flower run recorded no rounds")
    extra = {"engine": "flower", "num_supernodes": config.num_clients, "ray_cpus": cpus}
    extra |= {"setup_seconds": outcome["setup_seconds"], "seconds": time.perf_counter() - t0}
    return FederatedResult(
        config, history, params, model.spec, state, client_metrics, outcome["stats"], reason, extra
    )
