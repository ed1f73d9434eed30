"""`vega-lab bench robustness`: the aggregator x attack x malicious-fraction matrix
(`vega_lab.federated.matrix`) on digits with 100 clients and 10 rounds on the vectorized engine,
timed as a whole; final accuracy per cell, plus the backdoor's success and anomaly detection's
recall. The machine's load is noted before and after: the figure is wall time on a shared box."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from typing import Any

import torch

from vega_lab.federated.matrix import AGGREGATORS, ATTACK_NAMES, FRACTIONS, robustness_matrix

QUICK = dict(
    aggregators=("fedavg", "median", "krum"),
    attacks=("sign_flip", "alie"),
    fractions=(0.0, 0.2),
    workload=dict(num_clients=20, rounds=3),
)


def _load() -> float:
    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else math.nan


def bench_robustness(
    *,
    quick: bool = False,
    clients: int | None = None,
    rounds: int | None = None,
    seed: int = 0,
    threads: int = 1,
    on_cell: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    aggregators, attacks, fractions = AGGREGATORS, ATTACK_NAMES, FRACTIONS
    workload: dict[str, Any] = {"seed": seed}
    if quick:
        aggregators, attacks, fractions = QUICK["aggregators"], QUICK["attacks"], QUICK["fractions"]
        workload |= QUICK["workload"]
    if clients is not None:
        workload["num_clients"] = clients
    if rounds is not None:
        workload["rounds"] = rounds
    load_before = _load()
    t0 = time.perf_counter()
    frame = robustness_matrix(
        aggregators, attacks, fractions, on_cell=on_cell, threads=threads or None, **workload
    )
    matrix_s = time.perf_counter() - t0
    from vega_lab.federated.matrix import WORKLOAD

    setup = {**WORKLOAD, **workload}
    cells = frame.astype(object).where(frame.notna(), None).to_dict("records")
    return {
        "matrix_s": matrix_s,
        "runs": int((~frame["shared"]).sum() + frame.loc[frame["shared"], "aggregator"].nunique()),
        "cells": len(frame),
        "refused": int((frame["status"] == "refused").sum()),
        "aggregators": list(aggregators),
        "attacks": list(attacks),
        "fractions": list(fractions),
        "workload": {k: list(v) if isinstance(v, tuple) else v for k, v in setup.items()},
        "load_before": load_before,
        "load_after": _load(),
        "cpus": os.cpu_count(),
        "threads": threads or torch.get_num_threads(),
        "quick": quick,
        "results": cells,
    }


def _grid(out: dict[str, Any], value: str, fraction: float) -> list[list[str]]:
    """Rows = aggregators, columns = attacks; "refused" where the aggregator refused."""
    by = {(r["aggregator"], r["attack"], r["malicious_fraction"]): r for r in out["results"]}
    grid = []
    for agg in out["aggregators"]:
        row = []
        for attack in out["attacks"]:
            r = by[(agg, attack, fraction)]
            v = r.get(value)
            row.append("refused" if r["status"] == "refused" else "" if v is None else f"{v:.3f}")
        grid.append(row)
    return grid


def report_lines(out: dict[str, Any]) -> list[str]:
    w = out["workload"]
    lines = [
        f"robustness matrix: {w['dataset']}, {w['num_clients']} clients x {w['rounds']} rounds x "
        f"{w['local_epochs']} local epochs, lr {w['lr']}, {w['engine']} engine, seed {w['seed']}; "
        f"defender knows f",
        f"final global test accuracy (rows: aggregator; columns: attack); "
        f"{out['runs']} runs for {out['cells']} cells:",
    ]
    width = max(len(a) for a in out["attacks"]) + 2
    for fraction in out["fractions"]:
        grid = _grid(out, "accuracy", fraction)
        lines.append(
            f"  malicious fraction {fraction:.0%}" + ("  (no attacker)" if not fraction else "")
        )
        if not fraction:
            for agg, row in zip(out["aggregators"], grid, strict=True):
                lines.append(f"    {agg:<15}{row[0]:>{width}}")
            continue
        lines.append(f"    {'':<15}" + "".join(f"{a:>{width}}" for a in out["attacks"]))
        for agg, row in zip(out["aggregators"], grid, strict=True):
            lines.append(f"    {agg:<15}" + "".join(f"{v:>{width}}" for v in row))
    if "backdoor" in out["attacks"]:
        lines.append("  backdoor success (triggered test inputs classified as the target):")
        lines.append(f"    {'':<15}" + "".join(f"{f:>{width}.0%}" for f in out["fractions"]))
        for agg in out["aggregators"]:
            cells = [
                _grid(out, "backdoor_success", f)[out["aggregators"].index(agg)]
                for f in out["fractions"]
            ]
            vals = [row[out["attacks"].index("backdoor")] for row in cells]
            lines.append(f"    {agg:<15}" + "".join(f"{v:>{width}}" for v in vals))
    lines.append(
        f"  matrix time {out['matrix_s']:.1f} s; refused cells {out['refused']}; load average "
        f"{out['load_before']} -> {out['load_after']} on {out['cpus']} CPUs, "
        f"{out['threads']} torch threads"
    )
    return lines


def markdown(out: dict[str, Any]) -> str:
    """The matrix as markdown tables, one per malicious fraction (for reports/)."""
    parts = []
    for fraction in out["fractions"]:
        grid = _grid(out, "accuracy", fraction)
        parts.append(f"**{fraction:.0%} malicious** (final accuracy)\n")
        parts.append("| aggregator | " + " | ".join(out["attacks"]) + " |")
        parts.append("| --- |" + " --- |" * len(out["attacks"]))
        for agg, row in zip(out["aggregators"], grid, strict=True):
            parts.append(f"| {agg} | " + " | ".join(row) + " |")
        parts.append("")
    return "\n".join(parts)
