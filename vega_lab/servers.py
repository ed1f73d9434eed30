"""Start JupyterLab and Voila as local subprocesses: loopback only, token always required.

The workbench's faces (the ``vega-lab`` command, tests, a notebook that opens a dashboard) all
need the same thing: a real server on 127.0.0.1 they can reach with a token, its log kept in a
file, and a clean stop that takes its kernels with it. Servers run as subprocesses rather than
in-process so a crash or a hung kernel never takes the caller down, and the command line they run
is the one a user would type.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

import httpx
import psutil

from vega_lab.config import Settings, get_settings
from vega_lab.errors import ServerError

__all__ = ["ServerHandle", "free_port", "start_dashboards", "start_lab"]

_POLL_INTERVAL_S = 0.25
_LOG_TAIL_LINES = 25


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS says is free now (it may be taken again before it is used)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _port_is_free(host: str, port: int) -> bool:
    """Whether a server could listen there, judged as Tornado does (with SO_REUSEADDR)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


@dataclass
class ServerHandle:
    """A running Jupyter or Voila server; use it as a context manager so it always stops."""

    kind: str
    base_url: str
    token: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    open_path: str | None = None

    def url(self, path: str = "") -> str:
        """``base_url + path`` with the token appended, ready to paste into a browser."""
        sep = "&" if "?" in path else "?"
        return f"{self.base_url}{path.lstrip('/')}{sep}token={quote(self.token, safe='')}"

    @property
    def browse_url(self) -> str:
        """Where a person should land: the opened notebook or dashboard, else the home page."""
        if not self.open_path:
            return self.url("lab" if self.kind == "lab" else "")
        prefix = "lab/tree/" if self.kind == "lab" else "voila/render/"
        return self.url(prefix + quote(self.open_path))

    def wait(self) -> int:
        """Block until the server exits; returns its exit code.

        The server has its own process group, so a terminal's Ctrl-C reaches only the caller:
        ``with start_lab() as lab: lab.wait()`` turns that KeyboardInterrupt into a clean stop.
        """
        return self.process.wait()

    def stop(self, timeout: float = 10) -> None:
        """SIGTERM the server's process group (it shuts its kernels down), then kill what is left.

        Kernels run in sessions of their own, so they are collected before the signal and
        killed afterwards if the server did not end them. Safe to call more than once.
        """
        descendants = self._descendants()
        if self.process.poll() is None:
            _signal_group(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                _signal_group(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout)
        _kill_all(descendants, timeout)

    def _descendants(self) -> list[psutil.Process]:
        """The server's kernels and helpers, asked for while the server is still there."""
        if self.process.poll() is not None:
            return []
        try:
            return psutil.Process(self.process.pid).children(recursive=True)
        except psutil.Error:
            return []

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _kill_all(procs: list[psutil.Process], timeout: float) -> None:
    """Terminate, then kill, processes that are still alive (psutil guards against PID reuse)."""
    alive = [p for p in procs if p.is_running()]
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.terminate()
    _, alive = psutil.wait_procs(alive, timeout=min(timeout, 5))
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(alive, timeout=timeout)


def start_lab(
    *,
    root: Path | None = None,
    port: int | None = None,
    token: str | None = None,
    open_path: str | None = "notebooks/00_tour.ipynb",
    collaborative: bool = True,
    timeout_s: float = 120,
    extra_args: Sequence[str] = (),
) -> ServerHandle:
    """Start JupyterLab on 127.0.0.1 serving ``root`` and return once it answers.

    ``port=None`` uses ``VEGA_LAB_PORT``, ``0`` any free port. ``open_path`` (relative to
    ``root``) is dropped when that file does not exist, so another root still opens cleanly.
    Real-time collaboration (jupyter-collaboration) is on unless ``collaborative=False``.
    """
    settings = get_settings()
    root = _existing_dir(root or settings.home, "JupyterLab root")
    port = _choose_port(settings.lab_host, settings.lab_port if port is None else port, "lab")
    token = _choose_token(token, settings)
    state = _state_dir(settings)
    if open_path and not (root / open_path).is_file():
        open_path = None
    args = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        f"--ServerApp.ip={settings.lab_host}",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        # Offline and quiet: no news feed, update checks or PyPI extension queries.
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
        # Keep server state out of the served tree and the user's home folder.
        f"--LabApp.workspaces_dir={state / 'workspaces'}",
        f"--BaseFileIdManager.db_path={state / 'file_id_manager.db'}",
        f"--SQLiteYStore.db_path={state / 'ystore.db'}",
        f"--YDocExtension.session_store_path={state / 'collaboration_sessions.json'}",
        f"--YDocExtension.disable_rtc={not collaborative}",
        # Containers often run as root; the server is loopback-only and token-protected anyway.
        *(["--ServerApp.allow_root=True"] if _is_root() else []),
        *extra_args,
    ]
    return _launch("lab", args, root, port, token, open_path, settings, timeout_s, "api/status")


def start_dashboards(
    *,
    root: Path | None = None,
    notebook_dir: str = "widgets",
    open_path: str | None = None,
    port: int | None = None,
    token: str | None = None,
    timeout_s: float = 120,
    extra_args: Sequence[str] = (),
) -> ServerHandle:
    """Start Voila on 127.0.0.1 serving every notebook in ``root / notebook_dir`` as a dashboard.

    The home page lists the dashboards; ``open_path`` (relative to ``notebook_dir``) makes
    ``browse_url`` point straight at one, rendered at ``voila/render/<open_path>``.
    """
    settings = get_settings()
    root = _existing_dir(root or settings.home, "dashboards root")
    served = _existing_dir(root / notebook_dir, "dashboards folder")
    if open_path and not (served / open_path).is_file():
        found = ", ".join(sorted(p.name for p in served.glob("*.ipynb"))) or "none"
        raise ServerError(
            f"dashboard {open_path!r} not found in {served}",
            f"pick one of the notebooks there ({found})",
        )
    port = _choose_port(
        settings.lab_host, settings.dashboards_port if port is None else port, "dashboards"
    )
    token = _choose_token(token, settings)
    state = _state_dir(settings)
    args = [
        sys.executable,
        "-m",
        "voila",
        str(served),
        "--no-browser",
        f"--Voila.ip={settings.lab_host}",
        f"--port={port}",
        "--Voila.port_retries=0",
        f"--token={token}",
        f"--Voila.connection_dir_root={state / 'runtime'}",
        f"--template={_offline_voila_template(state)}",
        *extra_args,
    ]
    return _launch("dashboards", args, root, port, token, open_path, settings, timeout_s, "")


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _existing_dir(path: Path, what: str) -> Path:
    path = Path(path).expanduser().resolve()
    if not path.is_dir():
        raise ServerError(f"{what} {path} is not a folder", "pass an existing folder")
    return path


def _choose_port(host: str, port: int, kind: str) -> int:
    if port == 0:
        return free_port(host)
    if not _port_is_free(host, port):
        var = "VEGA_LAB_PORT" if kind == "lab" else "VEGA_DASHBOARDS_PORT"
        raise ServerError(
            f"port {port} on {host} is already in use",
            f"stop what runs there, or choose another port with {var} or --port (0 = any free)",
        )
    return port


def _choose_token(token: str | None, settings: Settings) -> str:
    if token:
        return token
    if settings.lab_token is not None and settings.lab_token.get_secret_value():
        return settings.lab_token.get_secret_value()
    return secrets.token_urlsafe(24)


def _state_dir(settings: Settings) -> Path:
    """Where Jupyter's runtime files, databases and workspaces go: inside the data folder."""
    state = settings.data_path / "jupyter"
    for sub in ("runtime", "workspaces"):
        (state / sub).mkdir(parents=True, exist_ok=True)
    return state


# Voila's lab template links FontAwesome's CSS from a CDN, the one request a dashboard would make
# beyond 127.0.0.1 (charts are inline SVG). This template is that one with the links pointed at an
# empty data: stylesheet; button icons stay blank, every panel button also has a text label.
_VOILA_TEMPLATE = """{%- extends 'voila/templates/lab/index.html.j2' -%}
{%- block notebook_css -%}
{{ super() | replace('https://cdn.jsdelivr.net/npm/@fortawesome/', 'data:text/css,') }}
{%- endblock notebook_css -%}
"""


def _offline_voila_template(state: Path) -> str:
    """Write the ``vega_lab`` Voila template into the Jupyter data folder `_server_env` adds."""
    folder = state / "share" / "voila" / "templates" / "vega_lab"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "conf.json").write_text('{"base_template": "lab"}\n')
    (folder / "index.html.j2").write_text(_VOILA_TEMPLATE)
    return folder.name


def _server_env(settings: Settings) -> dict[str, str]:
    """The user's environment, with Jupyter's runtime files moved into the data folder."""
    env = dict(os.environ)
    env["JUPYTER_RUNTIME_DIR"] = str(_state_dir(settings) / "runtime")
    # Our templates (see _VOILA_TEMPLATE) come first among Jupyter's data folders.
    shared = [str(_state_dir(settings) / "share"), env.get("JUPYTER_PATH", "")]
    env["JUPYTER_PATH"] = os.pathsep.join(p for p in shared if p)
    # Kernels the server starts resolve the same settings as the process that started it.
    env.setdefault("VEGA_HOME", str(settings.home))
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def _launch(
    kind: str,
    args: list[str],
    root: Path,
    port: int,
    token: str,
    open_path: str | None,
    settings: Settings,
    timeout_s: float,
    probe: str,
) -> ServerHandle:
    logs = settings.data_path / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            args,
            cwd=root,
            env=_server_env(settings),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            process_group=0,  # its own group: stop() signals the server and its helpers together
        )
    handle = ServerHandle(
        kind=kind,
        base_url=f"http://{settings.lab_host}:{port}/",
        token=token,
        port=port,
        process=process,
        log_path=log_path,
        open_path=open_path,
    )
    try:
        _wait_ready(handle, probe, timeout_s)
    except BaseException:
        handle.stop()
        raise
    return handle


def _wait_ready(handle: ServerHandle, probe: str, timeout_s: float) -> None:
    """Poll with the token until the server answers 200, it exits, or the time runs out."""
    name = "JupyterLab" if handle.kind == "lab" else "Voila"
    deadline = time.monotonic() + timeout_s
    with httpx.Client(timeout=5, trust_env=False) as client:
        while True:
            code = handle.process.poll()
            if code is not None:
                raise ServerError(
                    f"{name} exited with code {code} before it was ready",
                    f"fix what its log shows and start it again; last lines of "
                    f"{handle.log_path}:\n{_tail(handle.log_path)}",
                )
            try:
                if client.get(handle.url(probe)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise ServerError(
                    f"{name} did not answer on {handle.base_url} within {timeout_s:g} s",
                    f"allow more time with timeout_s, or see why in its log; last lines of "
                    f"{handle.log_path}:\n{_tail(handle.log_path)}",
                )
            time.sleep(_POLL_INTERVAL_S)


def _tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(log unreadable)"
    return "\n".join(text.splitlines()[-lines:]) or "(log empty)"
