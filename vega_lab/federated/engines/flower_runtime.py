"""Process hygiene for running Flower here: flwr imported after torch and without TensorFlow
(flwr imports it whenever installed, only for a GPU-memory helper: seconds per process, and
loaded before torch's triton it can abort torch), Flower and Ray quiet, ``FLWR_HOME`` and Ray's
temp files under the project's data folder, and Ray workers using the threads Ray granted."""

from __future__ import annotations

import importlib
import logging
import os
import sys
from typing import Any

import torch

from vega_lab.config import get_settings, ray_temp_dir
from vega_lab.errors import FederatedError

_HIDE_TF_ENV = "VEGA_FLOWER_HIDE_TF"


def _hide_tensorflow() -> bool:
    """Make ``import tensorflow`` fail fast; True when it was hidden here (not yet imported)."""
    if "tensorflow" in sys.modules:
        return False
    sys.modules["tensorflow"] = None
    return True


def _setup_worker() -> None:
    """Ray ``worker_process_setup_hook``: runs as a worker starts (this module has imported
    torch by then), before it unpickles Flower's actor, whose module imports tensorflow. Hide
    that for torch models, then preload the actor's imports while the driver still sets up."""
    if os.environ.get(_HIDE_TF_ENV) == "1":
        _hide_tensorflow()
    importlib.import_module("flwr.simulation.ray_transport.ray_actor")


def match_ray_threads() -> None:
    """Use the threads Ray granted the actor (OMP_NUM_THREADS = its CPUs). torch, imported as
    the worker starts before Ray sets that, would use every core: 2 actors x 2 threads thrash 2
    cores (rounds ran 20x slower)."""
    n = os.environ.get("OMP_NUM_THREADS", "")
    if n.isdigit() and int(n) > 0 and torch.get_num_threads() != int(n):
        torch.set_num_threads(int(n))


def prepare_flower_environment() -> None:
    """What any in-process Flower run here needs first: flwr imported after torch and without
    TensorFlow, Flower and Ray quiet (WARNING), ``FLWR_HOME`` under the project's data folder."""
    home = get_settings().data_path / "flwr"
    home.mkdir(parents=True, exist_ok=True)
    os.environ["FLWR_HOME"] = str(home)
    os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")  # CPU-only: keep quiet
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if "flwr.simulation" not in sys.modules:
        os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")  # read at import; no network here
        hidden = _hide_tensorflow()
        try:
            import flwr.simulation  # noqa: F401
        except ImportError as exc:
            raise FederatedError(
                f"the flower engine needs flwr[simulation]: {exc}",
                "install the `flower` extra, or use engine='vectorized' or 'sequential'",
            ) from exc
        finally:
            if hidden and sys.modules.get("tensorflow", 0) is None:
                del sys.modules["tensorflow"]
    logger = logging.getLogger("flwr")
    if logger.level < logging.WARNING:
        logger.setLevel(logging.WARNING)
    logger.addFilter(_drop_run_simulation_deprecation)


def _drop_run_simulation_deprecation(record: logging.LogRecord) -> bool:
    """`run_simulation` is the in-process API we want; its deprecation notice is noise here."""
    return "`run_simulation` function is deprecated" not in str(record.args)


def ray_backend_config(num_clients: int | None = None) -> dict[str, Any]:
    """``run_simulation``'s backend_config: 1 CPU per client, and for a Ray that Flower starts,
    one CPU per core (or client), Ray's temp files under the data folder, Ray quiet."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cpus = max(1, min(cores or 1, num_clients or cores or 1))
    init = {"num_cpus": cpus, "include_dashboard": False, "log_to_driver": False}
    init |= {"logging_level": logging.WARNING, "_temp_dir": ray_temp_dir()}
    return {"client_resources": {"num_cpus": 1, "num_gpus": 0.0}, "init_args": init}


def start_ray(init_args: dict[str, Any], hide_tf: bool) -> tuple[bool, int]:
    """Start local Ray ourselves: Flower would too, but without our worker setup hook."""
    import ray

    if ray.is_initialized():  # the caller's Ray: used as is (Flower disconnects it afterwards)
        return False, int(ray.cluster_resources().get("CPU", 1))
    env = {"PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    if hide_tf:
        env[_HIDE_TF_ENV] = "1"
    hook = f"{__name__}._setup_worker"
    try:
        ray.init(runtime_env={"env_vars": env, "worker_process_setup_hook": hook}, **init_args)
    except Exception as exc:
        raise FederatedError(
            f"could not start local Ray for the Flower engine: {exc}",
            "Ray 2.55's raylet gives its agents 15 s to start, which a busy machine can miss: "
            "retry when it is quieter, or use engine='vectorized' or 'sequential'",
        ) from exc
    return True, int(init_args["num_cpus"])


def simulate_on_ray(
    server_app: Any, client_app: Any, num_clients: int, hide_tf: bool = True
) -> float:
    """One ``run_simulation`` on a local Ray started here with our worker hook (and stopped
    after); the wall seconds, Ray's start-up included. The benchmarks' way to run a Flower app."""
    import time

    import ray
    from flwr.simulation import run_simulation

    backend = ray_backend_config(num_clients)
    t0 = time.perf_counter()
    started, _ = start_ray(backend.pop("init_args"), hide_tf)
    try:
        run_simulation(
            server_app=server_app,
            client_app=client_app,
            num_supernodes=num_clients,
            backend_config=backend,
        )
    finally:
        if started and ray.is_initialized():
            ray.shutdown()
    return time.perf_counter() - t0
