"""Warm kernels for the local executor: every run gets a fresh kernel forked from a template
that already imported torch, pandas & co., instead of a new interpreter importing them again.

The template (``kernel_template``) never runs user code; each run's kernel is a new process, so
nothing one run does (globals, monkeypatches, ``sys.modules``, environment, cwd, seeds, threads)
can reach the next: the kernel is "replaced" after every run, failed, timed out or not. This
module is the driver's side: it starts one template per ``PYTHONHASHSEED`` (the one thing a fork
cannot change), forks a kernel per run, and drives it with Papermill through a kernel manager
whose provisioner is the forked process (``forked_kernel``), so the executed notebook and the
recorded failure are exactly those of the fresh path (``runner.execute_task`` records both).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from vega_lab.errors import ExecutorError
from vega_lab.experiments.runner import RunTask, papermill_arguments, shared_kernel_environment

log = logging.getLogger(__name__)

DEFAULT_PRELOAD = (
    "numpy",
    "pandas",
    "torch",
    "torch._dynamo",  # a run's first torch optimizer imports it: 1.5-2.5 s here, every run
    "sklearn",
    "altair",
    "vega_lab.experiments",
    "vega_lab.experiments.tracking",
)
TEMPLATE_MODULE = "vega_lab.experiments.kernel_template"


def warm_available() -> bool:
    """Linux only: a fork after torch/numpy imports is well trodden there (DataLoader workers,
    multiprocessing's default), unlike macOS where forked system frameworks may abort."""
    return sys.platform.startswith("linux") and hasattr(os, "fork")


class KernelTemplate:
    """The driver's handle on one template process."""

    def __init__(self, preload: Iterable[str], env: Mapping[str, str], timeout_s: float) -> None:
        start = time.perf_counter()
        self._lock = threading.Lock()
        self._next_id = 0
        self.proc = subprocess.Popen(
            [sys.executable, "-m", TEMPLATE_MODULE, json.dumps(list(preload))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=dict(env),
            cwd=Path.home() if Path.home().is_dir() else "/",
            text=True,
            start_new_session=True,  # the driver's Ctrl-C reaches it only through the driver
        )
        ready = self._read(timeout_s)
        if "error" in ready:
            self.close()
            raise ExecutorError(
                f"the warm kernel template failed: {ready['error']}",
                "fix `preload:` in the sweep spec, or set `isolation: fresh`",
            )
        self.pid: int = ready["pid"]
        self.import_s: float = ready["import_s"]
        self.start_s = time.perf_counter() - start

    def _read(self, timeout_s: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        if not select.select([self.proc.stdout], [], [], timeout_s)[0]:
            self.close()
            raise ExecutorError(
                f"the warm kernel template did not answer within {timeout_s:.0f} s",
                "the machine may be overloaded; retry, or set `isolation: fresh`",
            )
        line = self.proc.stdout.readline()
        if not line:
            code = self.proc.wait(timeout=10)
            raise ExecutorError(
                f"the warm kernel template exited (status {code}); its stderr says why",
                "set `isolation: fresh` to run without it",
            )
        return dict(json.loads(line))

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def fork(self, connection_file: str, cwd: str, env: Mapping[str, str]) -> int:
        """A new kernel process for one run; returns its pid."""
        assert self.proc.stdin is not None
        with self._lock:
            self._next_id += 1
            request = {
                "op": "fork",
                "id": self._next_id,
                "connection_file": connection_file,
                "cwd": cwd,
                "env": dict(env),
            }
            try:
                self.proc.stdin.write(json.dumps(request) + "\n")
                self.proc.stdin.flush()
            except OSError as exc:
                raise ExecutorError(f"the warm kernel template is gone: {exc}") from exc
            return int(self._read(30)["pid"])

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write('{"op": "stop"}\n')
                self.proc.stdin.close()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None and not stream.closed:
                stream.close()


class WarmPool:
    """Templates by hash seed, started on first need and closed when no run needs them."""

    def __init__(
        self, preload: Iterable[str] | None = None, *, start_timeout_s: float = 300.0
    ) -> None:
        self.preload = tuple(DEFAULT_PRELOAD if preload is None else preload)
        self.start_timeout_s = start_timeout_s
        self._templates: dict[str, KernelTemplate] = {}
        self._failures: dict[str, ExecutorError] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        self._closed = False
        self._disposer = ThreadPoolExecutor(1, thread_name_prefix="vega-warm-dispose")
        self.template_starts: list[float] = []  # seconds each template took to get ready

    def template(self, task: RunTask) -> KernelTemplate:
        """The live template for this task's hash seed (started now if needed)."""
        return self.template_for(shared_kernel_environment(task.home, task.results_url, task.seed))

    def template_for(self, env: Mapping[str, str]) -> KernelTemplate:
        """The live template for runs whose shared kernel environment is ``env``."""
        key = env["PYTHONHASHSEED"]
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key in self._failures:
                raise self._failures[key]
            current = self._templates.get(key)
            if current is not None and current.alive:
                return current
            try:
                fresh = KernelTemplate(self.preload, {**os.environ, **env}, self.start_timeout_s)
            except ExecutorError as exc:
                self._failures[key] = exc
                raise
            with self._lock:
                closed = self._closed
                if not closed:
                    self._templates[key] = fresh
            if closed:  # the pool closed while this one started
                fresh.close()
                raise ExecutorError("the warm pool is closed")
            self.template_starts.append(fresh.start_s)
            return fresh

    def start_soon(self, env: Mapping[str, str]) -> None:
        """Start the template for ``env`` in the background (a failure is remembered)."""

        def start() -> None:
            with contextlib.suppress(ExecutorError):
                self.template_for(env)

        threading.Thread(target=start, name="vega-warm-start", daemon=True).start()

    def retire(self, hash_seed: str) -> None:
        """No queued run needs this hash seed any more: free the template's memory (after the
        kernels it forked are shut down)."""
        with contextlib.suppress(RuntimeError):  # closing: the pool closes every template
            self._disposer.submit(self._close_template, hash_seed)

    def _close_template(self, hash_seed: str) -> None:
        with self._lock:
            template = self._templates.pop(hash_seed, None)
        if template is not None:
            template.close()

    def execute(self, task: RunTask, output: Path, kernel_env: Mapping[str, str]) -> None:
        """A ``runner.NotebookStep``: the run in a kernel forked for it, then disposed of."""
        import papermill as pm

        from vega_lab.experiments.forked_kernel import ForkedKernelManager

        template = self.template(task)
        km = ForkedKernelManager(kernel_name=task.kernel_name)
        try:
            env = {**os.environ, **kernel_env}
            try:
                pid = template.fork(km.connection_file, str(Path(task.notebook).parent), env)
            except ExecutorError:
                if template.alive:
                    raise
                template = self.template(task)  # it died: one replacement, one retry
                pid = template.fork(km.connection_file, str(Path(task.notebook).parent), env)
            km.attach(pid)
            pm.execute_notebook(**papermill_arguments(task, output), km=km)
        finally:
            km.close_clients()
            self._disposer.submit(km.dispose)  # the shutdown overlaps the worker's next run

    def drain(self) -> None:
        """Wait until every finished run's kernel (and retired template) is gone."""
        with contextlib.suppress(RuntimeError):  # already closed: nothing pending
            self._disposer.submit(lambda: None).result()

    def close(self) -> None:
        self._disposer.shutdown(wait=True)
        with self._lock:
            self._closed = True
            templates, self._templates = list(self._templates.values()), {}
        for template in templates:
            template.close()


def is_native_kernel(kernel_name: str) -> bool:
    """Whether ``kernel_name`` is this interpreter's ipykernel (the only kind a template of
    this process can fork); other kernels run fresh."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec(kernel_name)
    except NoSuchKernel:
        return False
    argv = list(spec.argv)
    python = {"python", f"python{sys.version_info[0]}", "python{}.{}".format(*sys.version_info[:2])}
    exe = argv[0] if argv else ""
    same_python = exe in python or os.path.realpath(exe) == os.path.realpath(sys.executable)
    return same_python and argv[1:3] == ["-m", "ipykernel_launcher"]
