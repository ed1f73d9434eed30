"""The embedded model server: llama.cpp's OpenAI-compatible HTTP server as a local subprocess.

Why a subprocess: it survives the kernel that started it, so a notebook, the CLI and a Voila
dashboard share one loaded model (found through a state file in ``data/chat/``); its llama.cpp
log goes to a file instead of a notebook's output; and a crash in native code cannot take a
kernel down. The cost is an HTTP hop on loopback (measured in the report: small next to
generation); ``backends.inprocess`` is the no-HTTP alternative for one process.

xllamacpp's ``Server`` *is* llama.cpp's HTTP server, and it supports API keys
(``CommonParams.api_keys``): every endpoint but ``/health`` answers 401 without
``Authorization: Bearer <key>``. The server binds 127.0.0.1 only, on a free port, with a
random key (or ``VEGA_CHAT_API_KEY``) kept in the state file, readable by this user only.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

from vega_lab.chat.models import resolve_model
from vega_lab.config import get_settings
from vega_lab.errors import ServerError
from vega_lab.servers import free_port

__all__ = [
    "ChatServerInfo",
    "default_threads",
    "ensure_server",
    "running_server",
    "start_server",
    "stop_server",
]

_HOST = "127.0.0.1"
_KEY_ENV = "VEGA_CHAT_SERVER_KEY"  # the key travels by environment, never on the command line
_MARK = "vega_lab.chat.server"


@dataclass(frozen=True)
class ChatServerInfo:
    """What a client needs to reach a running embedded server."""

    pid: int
    port: int
    url: str  # base URL; the OpenAI API is under url + "/v1"
    api_key: str
    model: str  # the GGUF path it serves
    log_path: str
    started_at: float


def default_threads() -> int:
    """Generation threads: the cores, at most 4 (llama.cpp gains little beyond on small models)."""
    return max(1, min(4, os.cpu_count() or 1))


def _state_path(state_dir: Path | None) -> Path:
    return (state_dir or get_settings().data_path / "chat") / "server.json"


def _read_state(path: Path) -> ChatServerInfo | None:
    try:
        return ChatServerInfo(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def _is_ours(pid: int) -> bool:
    """The pid is alive and is this module's server (not a reused pid)."""
    try:
        return _MARK in " ".join(psutil.Process(pid).cmdline())
    except psutil.Error:
        return False


def _healthy(info: ChatServerInfo, timeout: float = 2.0) -> bool:
    """``/health`` says ok and the key is accepted (so the state file is current)."""
    try:
        with httpx.Client(timeout=timeout, trust_env=False) as client:
            if client.get(f"{info.url}/health").status_code != 200:
                return False
            auth = {"Authorization": f"Bearer {info.api_key}"}
            return client.get(f"{info.url}/v1/models", headers=auth).status_code == 200
    except httpx.HTTPError:
        return False


def running_server(*, state_dir: Path | None = None) -> ChatServerInfo | None:
    """The embedded server recorded in the state file, if it is alive and answering."""
    info = _read_state(_state_path(state_dir))
    if info is None or not _is_ours(info.pid) or not _healthy(info):
        return None
    return info


def ensure_server(
    model: str | Path | None = None, *, state_dir: Path | None = None, **start_options: object
) -> ChatServerInfo:
    """Reuse the running embedded server when it serves ``model``, else start one."""
    path = str(resolve_model(model or get_settings().chat_model))
    info = running_server(state_dir=state_dir)
    if info is not None and info.model == path:
        return info
    if info is not None:
        stop_server(state_dir=state_dir)
    return start_server(path, state_dir=state_dir, **start_options)  # type: ignore[arg-type]


def start_server(
    model: str | Path | None = None,
    *,
    port: int = 0,
    api_key: str | None = None,
    n_ctx: int = 4096,
    threads: int | None = None,
    timeout_s: float = 60,
    state_dir: Path | None = None,
) -> ChatServerInfo:
    """Start a server for ``model`` on 127.0.0.1 (``port=0``: any free) and wait until healthy.

    It runs in its own session, so it outlives the caller; ``stop_server`` ends it.
    """
    settings = get_settings()
    path = resolve_model(model or settings.chat_model)
    port = port or free_port(_HOST)
    secret = settings.chat_api_key.get_secret_value() if settings.chat_api_key else None
    key = api_key or secret or secrets.token_urlsafe(24)
    state = _state_path(state_dir)
    state.parent.mkdir(parents=True, exist_ok=True)
    logs = settings.data_path / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"chat-server-{time.strftime('%Y%m%d-%H%M%S')}-{port}.log"
    args = [sys.executable, "-m", _MARK, "--model", str(path), "--port", str(port)]
    args += ["--n-ctx", str(n_ctx), "--threads", str(threads or default_threads())]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            args,
            env={**os.environ, _KEY_ENV: key},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    info = ChatServerInfo(
        pid=process.pid,
        port=port,
        url=f"http://{_HOST}:{port}",
        api_key=key,
        model=str(path),
        log_path=str(log_path),
        started_at=time.time(),
    )
    try:
        _wait_ready(process, info, timeout_s)
    except BaseException:
        _terminate(process.pid)
        raise
    fd = os.open(state, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(asdict(info), fh)
    return info


def _wait_ready(process: subprocess.Popen[bytes], info: ChatServerInfo, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        code = process.poll()
        if code is not None:
            raise ServerError(
                f"the chat model server exited with code {code} before it was ready",
                f"see its log {info.log_path}:\n{_tail(info.log_path)}",
            )
        if _healthy(info, timeout=1.0):
            return
        if time.monotonic() > deadline:
            raise ServerError(
                f"the chat model server did not answer on {info.url} within {timeout_s:g} s",
                f"allow more time with timeout_s, or see its log {info.log_path}",
            )
        time.sleep(0.1)


def _tail(path: str, lines: int = 20) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(log unreadable)"


def _terminate(pid: int, timeout: float = 10) -> None:
    with contextlib.suppress(psutil.Error):
        proc = psutil.Process(pid)
        proc.terminate()
        try:
            proc.wait(timeout)
        except psutil.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)


def stop_server(*, state_dir: Path | None = None) -> bool:
    """Stop the recorded embedded server; False when none was running."""
    path = _state_path(state_dir)
    info = _read_state(path)
    stopped = False
    if info is not None and _is_ours(info.pid):
        _terminate(info.pid)
        stopped = True
    path.unlink(missing_ok=True)
    return stopped


def llama_params(
    model: str | Path, *, n_ctx: int, threads: int, port: int, api_key: str, quiet: bool = False
) -> Any:
    """llama.cpp's server parameters, as the embedded server and the in-process model use them:
    loopback only, an API key always (``quiet`` silences llama.cpp's log)."""
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(model)
    params.n_ctx = n_ctx
    params.cpuparams.n_threads = threads
    params.hostnames = [_HOST]
    params.port = port
    params.api_keys = [api_key]
    if quiet:
        params.verbosity = -1
    return params


def _serve(model: str, port: int, n_ctx: int, threads: int) -> None:
    """The subprocess body: load the model, serve until SIGTERM/SIGINT."""
    import xllamacpp

    params = llama_params(
        model, n_ctx=n_ctx, threads=threads, port=port, api_key=os.environ.pop(_KEY_ENV)
    )
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    server = xllamacpp.Server(params)
    print(f"vega-lab chat server: {model} on {server.listening_address}", flush=True)
    while not done.wait(1.0):
        pass
    del server  # joins llama.cpp's loop


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=f"python -m {_MARK}")
    parser.add_argument("--model", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--n-ctx", type=int, default=4096)
    parser.add_argument("--threads", type=int, default=default_threads())
    ns = parser.parse_args(argv)
    _serve(ns.model, ns.port, ns.n_ctx, ns.threads)


if __name__ == "__main__":
    main()
