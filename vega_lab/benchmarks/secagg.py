"""`vega-lab bench secagg`: one secure-aggregation round of the same workload three ways.

The workload: N clients, each with a P-parameter update (normal, sd 0.05) and an example count
(the FedAvg weight); a fixed set of round(dropout * N) clients vanishes after sharing its keys,
before sending its masked input (the case that forces mask reconstruction). Every side computes
the weighted mean of the survivors' updates, and its error against the exact mean is reported.

- vega: `SecureAggregator.mean` (SecAgg+ as message-passing objects in this process: all
  clients' work one after another, then the server's);
- plain: the same round without any protection, done fairly: each survivor serializes its
  weighted update and weight to bytes, the server parses and sums them (the message plumbing a
  real round has too); ``plain_sum_s`` is the bare weighted sum over the stacked ``[N, P]``;
- Flower: `SecAggPlusWorkflow` inside `DefaultWorkflow` with `secaggplus_mod` clients, run by
  `run_simulation` on Ray, with the same number of share holders, threshold and clipping range;
  the dropped clients raise in ``fit``, which Flower's workflow sees as a dropout. Two rounds
  run: ``flower_s`` is the second, timed inside the ServerApp on warm Ray actors (the first,
  ``flower_first_round_s``, also starts them); ``flower_total_s`` is the whole
  `run_simulation`, Ray's start-up included.
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

import numpy as np
import torch  # before flwr, which imports tensorflow when installed (see ENVIRONMENT.md)

from vega_lab.errors import FederatedError
from vega_lab.federated.secure import SecureAggregator
from vega_lab.federated.secure.graph import default_shares, default_threshold
from vega_lab.federated.secure.prg import Drbg

CLIP = 1.0  # every update coordinate is far inside [-1, 1] (sd 0.05)


def client_update(seed: int, cid: int, params: int) -> tuple[np.ndarray, int]:
    """Client ``cid``'s update and example count, reproducible anywhere (also in Ray workers)."""
    rng = np.random.default_rng([seed, cid])
    return rng.normal(0.0, 0.05, params).astype(np.float32), int(rng.integers(10, 101))


def workload(clients: int, params: int, dropout: float, seed: int) -> dict[str, Any]:
    rows = [client_update(seed, i, params) for i in range(clients)]
    x = np.stack([r[0] for r in rows])
    w = np.array([r[1] for r in rows], dtype=np.float64)
    dropped = sorted(Drbg(seed, "bench-dropout").permutation(clients)[: round(dropout * clients)])
    keep = np.setdiff1d(np.arange(clients), dropped)
    exact = (w[keep, None] * x[keep].astype(np.float64)).sum(0) / w[keep].sum()
    return {"x": x, "w": w, "dropped": [int(i) for i in dropped], "keep": keep, "exact": exact}


def plain_round(x: np.ndarray, w: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """The unprotected round: bytes from each survivor, parsed and summed by the server."""
    acc = np.zeros(x.shape[1] + 1, dtype=np.float64)
    for i in keep:
        payload = np.append(x[i] * np.float32(w[i]), np.float32(w[i])).astype("<f4").tobytes()
        acc += np.frombuffer(payload, dtype="<f4")
    return acc[:-1] / acc[-1]


def _median_time(fn: Any, repeats: int) -> tuple[float, float, Any]:
    """(median wall seconds, median CPU seconds of this process, last result). On a shared,
    busy machine the CPU time of a single-threaded computation is the steadier figure."""
    times, cpu, out = [], [], None
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(times), statistics.median(cpu), out


def run_flower_secagg(
    clients: int, params: int, dropped: list[int], num_shares: int, threshold: int, seed: int
) -> dict[str, Any]:
    """Two SecAgg+ rounds through Flower: the first also starts the Ray actors (each imports
    flwr and torch), so the second, on warm actors, is the round time; the aggregated mean
    (every round aggregates the same updates) and the timings."""
    from vega_lab.federated.engines.flower_runtime import (
        prepare_flower_environment,
        simulate_on_ray,
    )

    prepare_flower_environment()
    from flwr.client import ClientApp, NumPyClient
    from flwr.client.mod import secaggplus_mod
    from flwr.common import Context, ndarrays_to_parameters, parameters_to_ndarrays
    from flwr.compat.common.recorddict_compat import arrayrecord_to_parameters
    from flwr.server import Grid, LegacyContext, ServerApp, ServerConfig
    from flwr.server.strategy import FedAvg
    from flwr.server.workflow import DefaultWorkflow, SecAggPlusWorkflow
    from flwr.server.workflow.constant import MAIN_PARAMS_RECORD

    gone = set(dropped)
    max_weight = 100.0

    class Client(NumPyClient):
        def __init__(self, cid: int) -> None:
            self.cid = cid

        def fit(self, parameters: list, config: dict) -> tuple[list, int, dict]:
            if self.cid in gone:
                raise RuntimeError(f"client {self.cid} drops out (benchmark)")
            update, weight = client_update(seed, self.cid, params)
            return [update], weight, {}

    def client_fn(context: Context) -> Any:
        return Client(int(context.node_config["partition-id"])).to_client()

    client_app = ClientApp(client_fn=client_fn, mods=[secaggplus_mod])
    server_app = ServerApp()
    out: dict[str, Any] = {}

    @server_app.main()
    def main(grid: Grid, context: Context) -> None:
        strategy = FedAvg(
            fraction_fit=1.0,
            fraction_evaluate=0.0,
            min_fit_clients=clients,
            min_available_clients=clients,
            initial_parameters=ndarrays_to_parameters([np.zeros(params, np.float32)]),
        )
        legacy = LegacyContext(
            context=context, config=ServerConfig(num_rounds=2), strategy=strategy
        )
        secagg = SecAggPlusWorkflow(
            num_shares=num_shares,
            reconstruction_threshold=threshold,
            max_weight=max_weight,
            clipping_range=CLIP * 8,  # Flower's default; its offset maths needs the room
        )
        rounds: list[float] = []

        def timed_round(grid: Grid, context: Context) -> None:
            t0 = time.perf_counter()
            secagg(grid, context)
            rounds.append(time.perf_counter() - t0)

        DefaultWorkflow(fit_workflow=timed_round)(grid, legacy)
        out["rounds_s"] = rounds
        record = legacy.state.array_records.get(MAIN_PARAMS_RECORD)
        if record is not None:
            out["mean"] = parameters_to_ndarrays(arrayrecord_to_parameters(record, True))[0]

    out["total_s"] = simulate_on_ray(server_app, client_app, clients)
    return out


def bench_secagg(
    clients: int = 100,
    dropout: float = 0.3,
    params: int = 100_000,
    *,
    flower: bool = True,
    repeats: int = 3,
    num_shares: int | None = None,
    threshold: int | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Time one secure round (ours, Flower's) against plain aggregation of the same updates."""
    torch.set_num_threads(1)
    m = min(num_shares or default_shares(clients, max(dropout, 0.3)), clients)
    t = threshold or default_threshold(m)
    wl = workload(clients, params, dropout, seed)
    x, w, keep, exact = wl["x"], wl["w"], wl["keep"], wl["exact"]
    agg = SecureAggregator(num_shares=m, threshold=t, clip=CLIP, seed=seed)
    xt, wt = torch.from_numpy(x), torch.from_numpy(w)
    vega_s, vega_cpu, (mean, report) = _median_time(
        lambda: agg.mean(xt, wt, dropout=wl["dropped"]), repeats
    )
    plain_s, plain_cpu, plain = _median_time(lambda: plain_round(x, w, keep), repeats)
    plain_sum_s, _, _ = _median_time(
        lambda: (w[keep, None] * x[keep]).sum(0) / w[keep].sum(), max(repeats, 5)
    )
    vega_err = float(np.abs(mean.double().numpy() - exact).max())
    out: dict[str, Any] = {
        "clients": clients,
        "params": params,
        "dropout": dropout,
        "dropped": len(wl["dropped"]),
        "num_shares": report.num_shares,
        "threshold": report.threshold,
        "quantization_bits": report.bits,
        "decoded": report.survivors == keep.tolist() and vega_err < 1e-3,
        "load_avg_1min": os.getloadavg()[0],
        "cpus": os.cpu_count(),
        "vega_s": vega_s,
        "vega_cpu_s": vega_cpu,
        "vega_client_s": report.client_s / clients,  # mean per client (they run in parallel)
        "vega_server_s": report.server_s,
        "plain_s": plain_s,
        "plain_cpu_s": plain_cpu,
        "plain_sum_s": plain_sum_s,
        "ratio_vs_plain": vega_s / plain_s,
        "server_ratio_vs_plain": report.server_s / plain_s,
        "bytes_per_client": report.bytes_per_client,
        "plain_bytes_per_client": 4 * (params + 1),
        "vega_max_err": vega_err,
        "plain_max_err": float(np.abs(plain - exact).max()),
        "repeats": repeats,
        "flower_s": None,
        "flower_total_s": None,
        "speedup": None,
        "flower_max_err": None,
    }
    if flower:
        try:
            fl = run_flower_secagg(clients, params, wl["dropped"], m, t, seed)
        except FederatedError as exc:  # Ray could not start on a busy machine: say so, go on
            out["flower_error"] = str(exc)
            return out
        if "mean" not in fl:
            out["flower_error"] = "Flower's round ended without an aggregate (see its log)"
        else:
            out["flower_max_err"] = float(np.abs(fl["mean"].astype(np.float64) - exact).max())
        rounds = fl.get("rounds_s", [])
        out["flower_s"] = rounds[-1] if len(rounds) == 2 else None
        out["flower_first_round_s"] = rounds[0] if rounds else None
        out["flower_total_s"] = fl["total_s"]
        if out["flower_s"]:
            out["speedup"] = out["flower_s"] / vega_s
    return out


def report_lines(out: dict[str, Any]) -> list[str]:
    """The human table (the CLI prints it to stderr)."""
    lines = [
        f"one secure-aggregation round: {out['clients']} clients x {out['params']} params, "
        f"{out['dropped']} dropped after sharing keys ({out['dropout']:.0%}); "
        f"{out['num_shares']} share holders, threshold {out['threshold']}, "
        f"{out['quantization_bits']}-bit quantization; load average {out['load_avg_1min']:.1f} "
        f"on {out['cpus']} CPUs",
        f"  {'':<34}{'seconds':>10}{'x plain':>9}{'max err':>10}{'CPU s':>9}",
        f"  {'plain (bytes -> sum)':<34}{out['plain_s']:>10.4f}{1:>9.1f}"
        f"{out['plain_max_err']:>10.1e}{out['plain_cpu_s']:>9.4f}",
        f"  {'plain bare sum over [N, P]':<34}{out['plain_sum_s']:>10.4f}"
        f"{out['plain_sum_s'] / out['plain_s']:>9.2f}",
        f"  {'vega SecAgg+ (all parties)':<34}{out['vega_s']:>10.4f}"
        f"{out['ratio_vs_plain']:>9.1f}{out['vega_max_err']:>10.1e}{out['vega_cpu_s']:>9.3f}",
        f"  {'  of which server':<34}{out['vega_server_s']:>10.4f}"
        f"{out['server_ratio_vs_plain']:>9.1f}",
        f"  {'  per client (mean)':<34}{out['vega_client_s']:>10.4f}",
    ]
    if out.get("flower_total_s") is not None:
        fs, err = out["flower_s"], out["flower_max_err"]
        secs = f"{fs:.4f}" if fs else "n/a"
        ratio = f"{fs / out['plain_s']:.1f}" if fs else ""
        error = f"{err:.1e}" if err is not None else "failed"
        lines.append(f"  {'Flower SecAggPlusWorkflow (round)':<34}{secs:>10}{ratio:>9}{error:>10}")
        first = out.get("flower_first_round_s")
        if first is not None:
            lines.append(f"  {'Flower round 1 (actors start)':<34}{first:>10.2f}")
        lines.append(
            f"  {'Flower run_simulation, 2 rounds':<34}{out['flower_total_s']:>10.2f}"
            "   (Ray start-up included)"
        )
        if out.get("speedup"):
            lines.append(f"  speedup (flower_s / vega_s): {out['speedup']:.1f}x")
    elif out.get("flower_error"):
        lines.append(f"  Flower: did not run: {out['flower_error']}")
    else:
        lines.append("  Flower: not run (--no-flower)")
    lines.append(
        f"  bytes per client: {out['bytes_per_client']:.0f} "
        f"(plain {out['plain_bytes_per_client']}); decoded: {out['decoded']}"
    )
    return lines
