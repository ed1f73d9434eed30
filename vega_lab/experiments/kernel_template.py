"""A kernel template: one process imports the heavy modules once, then forks a fresh Jupyter
kernel for every run (``python -m vega_lab.experiments.kernel_template '["torch", ...]'``).

Why fork rather than reuse a kernel: a kernel that ran user code cannot be cleaned reliably
(monkeypatched modules, ``sys.modules`` additions, ``os.environ``, the working directory, random
and torch thread state, plotting settings all persist). The template never runs user code, so
each child starts from the same just-imported state and everything its run changes dies with it:
isolation by construction. The imports (most of a run's cost) are paid once and shared
copy-on-write.

Protocol, JSON lines: requests on stdin, replies on the original stdout (fd 1 is pointed at
stderr so nothing an import prints can corrupt it). First reply ``{"ready": ...}`` or
``{"error": ...}``; then per ``{"op": "fork", "id", "connection_file", "cwd", "env"}`` a reply
``{"id", "pid"}``. EOF or ``{"op": "stop"}`` kills every live child's process group and exits.

What a child cannot change: the hash seed (``PYTHONHASHSEED`` acts at interpreter start, so the
driver keeps one template per hash seed) and anything a preloaded module read from the
environment at import time (it sees the template's environment, the driver's at start).
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import json
import os
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import IO, Any

# what every kernel needs, imported whatever the preload list says
KERNEL_MODULES = ("ipykernel.kernelapp", "ipykernel.ipkernel", "ipykernel_launcher")


def _send(out: IO[str], message: dict[str, Any]) -> None:
    out.write(json.dumps(message) + "\n")
    out.flush()


def _native_threads() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return -1


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if sys.path and (sys.path[0] == "" or Path(sys.path[0]) == Path.cwd()):
        del sys.path[0]  # as ipykernel_launcher does; IPython puts '' back in each kernel
    reply = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # prints from imports (and children) go to stderr, never into the protocol
    sys.stdout = sys.stderr
    preload = json.loads(args[0]) if args else []
    start = time.perf_counter()
    name = ""
    try:
        for name in (*KERNEL_MODULES, *preload):
            importlib.import_module(name)
    except BaseException as exc:  # report any import failure to the driver
        _send(reply, {"error": f"importing {name!r} failed: {type(exc).__name__}: {exc}"})
        return 1
    import threading

    if threading.active_count() > 1:  # a fork copies only the forking thread: refuse
        names = ", ".join(t.name for t in threading.enumerate() if t is not threading.main_thread())
        _send(reply, {"error": f"the preloaded modules started Python threads ({names})"})
        return 1
    children: set[int] = set()

    def reap(_signum: int, _frame: object) -> None:
        while True:
            try:
                pid, _status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            children.discard(pid)

    signal.signal(signal.SIGCHLD, reap)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver's Ctrl-C is for the driver
    _send(
        reply,
        {
            "ready": True,
            "pid": os.getpid(),
            "import_s": round(time.perf_counter() - start, 3),
            "native_threads": _native_threads(),
            "modules": len(sys.modules),
        },
    )
    try:
        for line in sys.stdin:
            request = json.loads(line)
            if request.get("op") == "stop":
                break
            if request.get("op") != "fork":
                continue
            pid = os.fork()
            if pid == 0:
                _become_kernel(request, reply)  # never returns
            children.add(pid)
            _send(reply, {"id": request["id"], "pid": pid})
    finally:
        for pid in list(children):
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
    return 0


def _become_kernel(request: dict[str, Any], reply: IO[str]) -> None:
    """In the forked child: take the run's environment and cwd, then run an ipykernel."""
    code: int = 1
    try:
        template_pid = os.getppid()
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.setsid()  # its own process group: a kill takes whatever the run started too
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        reply.close()
        cwd, connection_file = request["cwd"], request["connection_file"]
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(request["env"])
        os.environ["JPY_PARENT_PID"] = str(template_pid)
        launcher = sys.modules["ipykernel_launcher"].__file__ or "ipykernel_launcher"
        sys.argv = [launcher, "-f", connection_file]
        if "numpy" in sys.modules:  # a fresh interpreter seeds numpy's global state from entropy
            sys.modules["numpy"].random.seed()
        from ipykernel.kernelapp import IPKernelApp

        app = IPKernelApp.instance()
        app.initialize(
            [
                "-f",
                connection_file,
                "--HistoryManager.hist_file=:memory:",  # as nbclient starts fresh kernels
                f"--IPKernelApp.parent_handle={template_pid}",  # die with the template
            ]
        )
        app.start()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # the child must never return into the template loop
        traceback.print_exc()
    finally:
        try:
            atexit._run_exitfuncs()  # what a normal interpreter exit would run
            sys.stderr.flush()
        finally:
            os._exit(code)


if __name__ == "__main__":
    status = main()
    sys.stderr.flush()
    os._exit(status)  # skip tearing down torch & co. (seconds): nothing here needs it
