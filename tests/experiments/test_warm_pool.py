"""Warm kernels (forked from a pre-imported template): isolation between runs, failures and
timeouts recorded the way fresh runs record them, and the same numbers as fresh kernels."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import tiny_notebook
from vega_lab.errors import SweepSpecError
from vega_lab.experiments import open_store, run_sweep

# run "dirty" changes everything a reset by hand would have to undo; "check" reports what it
# sees; "fail" raises in this cell; "sleep" outlives the timeout. Every run reports its pids.
PROBE = """\
import os, statistics, sys, time, types
import numpy as np
pid, ppid = os.getpid(), os.getppid()
run.log_final(pid=float(pid), ppid=float(ppid))
if mode == "dirty":
    LEAK = 1
    np.mean = lambda *a, **k: "patched"  # numpy lives in the template: shared pages
    statistics.median = lambda *a, **k: "patched"
    os.environ["VEGA_LEAK"] = "1"
    os.chdir("/")
    sys.modules["leaky_module"] = types.ModuleType("leaky_module")
    np.random.seed(7)
elif mode == "fail":
    raise ValueError("planned failure in the probe cell")
elif mode == "sleep":
    time.sleep(60)
run.log_final(
    leak_global=float("LEAK" in globals()),
    np_patched=float(np.mean([1.0]) == "patched"),
    stdlib_patched=float(statistics.median([1.0]) == "patched"),
    env_leak=float("VEGA_LEAK" in os.environ),
    cwd_moved=float(not os.path.samefile(os.getcwd(), home)),
    module_leak=float("leaky_module" in sys.modules),
    np_seeded_7=float(np.random.random() == np.random.RandomState(7).random()),
    hash_value=float(hash("vega") % 100003),
    hash_seed=float(os.environ["PYTHONHASHSEED"]),
    run_seed=float(os.environ["VEGA_SEED"]),
    rng=float(np.random.default_rng(seed).integers(1_000_000)),
)
if heavy:  # torch and altair keep process-wide settings too
    import altair as alt
    import torch
    if mode == "dirty":
        torch.set_num_threads(7)
        alt.data_transformers.enable("csv")
    run.log_final(
        torch_threads_7=float(torch.get_num_threads() == 7),
        altair_csv=float(alt.data_transformers.active == "csv"),
    )
"""
LEAKS = (
    "leak_global",
    "np_patched",
    "stdlib_patched",
    "env_leak",
    "cwd_moved",
    "module_leak",
    "np_seeded_7",
)
HEAVY_LEAKS = ("torch_threads_7", "altair_csv")
LIGHT = "preload: [numpy, vega_lab.experiments.tracking]\n"  # what the probe needs: fast


def _sweep(folder: Path, name: str, body: str) -> Path:
    nb = tiny_notebook(
        folder / "probe.ipynb",
        extra_params="mode = 'check'\nhome = ''\nheavy = False\n",
        extra_cell=PROBE,
    )
    spec = folder / f"{name}.yaml"
    spec.write_text(f"name: {name}\nnotebook: {nb.name}\nparameters: {{home: '{folder}'}}\n{body}")
    return spec


def _finals(sweep_id: str) -> dict[str, dict[str, float]]:
    """Final metrics by mode (and seed, when the sweep has several)."""
    store = open_store()
    out: dict[str, dict[str, float]] = {}
    for row in store.find_runs(sweep_id=sweep_id):
        m = store.metrics_frame(run_ids=[row.id], kind="final")
        out[f"{row.parameters['mode']}/{row.seed}"] = dict(zip(m["name"], m["value"], strict=True))
    return out


def _gone(pid: float) -> bool:
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    return False


def test_run_b_sees_nothing_run_a_did_and_a_failure_is_recorded(workspace: Path) -> None:
    # the default preload (torch, altair, ...): what users get
    spec = _sweep(
        workspace,
        "iso",
        "workers: 1\ngrid: {mode: [dirty, fail, check], heavy: [true]}\nseeds: [0]\n",
    )
    res = run_sweep(spec, progress=False, report=False)
    assert res.isolation == "warm" and res.workers == 1
    by_mode = {open_store().get_run(r.run_id).parameters["mode"]: r for r in res.results}
    assert [by_mode[m].status for m in ("dirty", "fail", "check")] == [
        "finished",
        "failed",
        "finished",
    ]
    finals = _finals("iso")
    dirty, check = finals["dirty/0"], finals["check/0"]
    leaks = (*LEAKS, *HEAVY_LEAKS)
    assert all(dirty[k] == 1.0 for k in leaks)  # run A really changed all of it ...
    assert all(check[k] == 0.0 for k in leaks), check  # ... and run B sees none of it
    # one template forked every run's kernel: a new process each time, each gone afterwards
    pids = [finals[f"{m}/0"]["pid"] for m in ("dirty", "fail", "check")]
    assert len(set(pids)) == 3 and all(_gone(p) for p in pids)
    assert len({finals[f"{m}/0"]["ppid"] for m in ("dirty", "fail", "check")}) == 1

    failed = open_store().get_run(by_mode["fail"].run_id)
    assert failed.error_name == "ValueError" and failed.error_cell == 3  # after injected params
    assert "planned failure in the probe cell" in failed.error_traceback
    out = Path(failed.output_path)
    assert out.is_file() and "planned failure in the probe cell" in out.read_text()


def test_a_timed_out_kernel_is_killed_and_the_next_run_works(workspace: Path) -> None:
    spec = _sweep(
        workspace,
        "slow",
        f"workers: 1\ntimeout_s: 4\n{LIGHT}grid: {{mode: [sleep, check]}}\nseeds: [0]\n",
    )
    res = run_sweep(spec, progress=False, report=False)
    store = open_store()
    rows = {
        store.get_run(r.run_id).parameters["mode"]: store.get_run(r.run_id) for r in res.results
    }
    assert rows["sleep"].status == "failed" and rows["sleep"].error_name == "CellTimeoutError"
    assert rows["check"].status == "finished", rows["check"].error_message
    finals = _finals("slow")
    assert finals["sleep/0"]["pid"] != finals["check/0"]["pid"]
    assert _gone(finals["sleep/0"]["pid"])


def test_a_template_that_cannot_import_fails_each_run_clearly(workspace: Path) -> None:
    spec = _sweep(workspace, "bad", "preload: [vega_lab_no_such_module]\n")
    res = run_sweep(spec, progress=False, report=False)
    assert len(res.failed) == 1
    row = open_store().get_run(res.failed[0].run_id)
    assert row.error_name == "ExecutorError"
    assert "importing 'vega_lab_no_such_module' failed" in row.error_message


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ("isolation: hot\n", r"isolation: .*'warm' or 'fresh'.*'hot'"),
        ("isolation: fresh\npreload: [numpy]\n", "preload applies to `isolation: warm` only"),
        ("preload: ['numpy; rm']\n", "is not a module name"),
        ("executor: ray\nisolation: warm\n", "isolation 'warm' is not available with executor"),
    ],
)
def test_bad_isolation_settings_are_refused(workspace: Path, body: str, match: str) -> None:
    with pytest.raises(SweepSpecError, match=match):
        run_sweep(_sweep(workspace, "refused", body), progress=False, report=False)
    assert open_store().find_runs(sweep_id="refused") == []


@pytest.mark.slow
def test_warm_and_fresh_record_the_same_numbers_for_the_same_seeds(workspace: Path) -> None:
    """Two seeds, so two hash seeds: warm needs a template for each to match fresh kernels."""
    grid = "grid: {mode: [check]}\nseeds: [0, 1]\nworkers: 2\n"
    warm = run_sweep(
        _sweep(workspace, "w", f"isolation: warm\n{grid}"), progress=False, report=False
    )
    fresh = run_sweep(
        _sweep(workspace, "f", f"isolation: fresh\n{grid}"), progress=False, report=False
    )
    assert (warm.isolation, fresh.isolation) == ("warm", "fresh")
    assert len(warm.finished) == len(fresh.finished) == 2
    w, f = _finals("w"), _finals("f")
    assert w.keys() == f.keys() == {"check/0", "check/1"}
    for key in w:
        for name in ("total", "hash_value", "hash_seed", "run_seed", "rng", *LEAKS):
            assert w[key][name] == f[key][name], (key, name)
    assert w["check/0"]["hash_value"] != w["check/1"]["hash_value"]  # the hash seed acted
