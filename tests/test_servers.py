"""Real JupyterLab and Voila servers: loopback only, token required, clean stop, clear errors."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import nbformat
import psutil
import pytest

from vega_lab.config import get_settings
from vega_lab.errors import ServerError
from vega_lab.servers import free_port, start_dashboards, start_lab

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

MARKER = "VEGA-DASHBOARD-MARKER-4217"


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Server logs and Jupyter state go to a temp data dir; no token comes from the env."""
    data = tmp_path / "data"
    monkeypatch.setenv("VEGA_DATA_DIR", str(data))
    monkeypatch.delenv("VEGA_LAB_TOKEN", raising=False)
    get_settings.cache_clear()
    yield data
    get_settings.cache_clear()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "widgets").mkdir(parents=True)
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell("# A tiny dashboard"),
            nbformat.v4.new_code_cell(f"print({MARKER!r})"),
        ]
    )
    nbformat.write(nb, root / "widgets" / "tiny.ipynb")
    nbformat.write(nb, root / "small.ipynb")
    return root


def get(url: str, **kwargs: object) -> httpx.Response:
    """A fresh client per request, so no login cookie from an earlier request is reused."""
    return httpx.get(url, trust_env=False, timeout=120, follow_redirects=False, **kwargs)  # type: ignore[arg-type]


def refused(resp: httpx.Response) -> bool:
    """Jupyter refuses APIs with 401/403 and redirects pages to its login form."""
    if resp.status_code in (401, 403):
        return True
    return resp.status_code == 302 and "/login" in resp.headers.get("location", "")


def listening_addresses(pid: int) -> set[str]:
    return {
        c.laddr.ip
        for c in psutil.Process(pid).net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN
    }


def nobody_listens(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def test_lab_requires_token_listens_on_loopback_and_stops(root: Path, data_dir: Path) -> None:
    with start_lab(root=root, port=0, open_path="small.ipynb", collaborative=False) as lab:
        assert lab.kind == "lab"
        assert lab.base_url == f"http://127.0.0.1:{lab.port}/"
        assert lab.log_path.parent == data_dir / "logs"
        assert lab.log_path.is_file()

        assert get(lab.url("api/status")).status_code == 200
        assert refused(get(f"{lab.base_url}api/status"))
        assert refused(get(f"{lab.base_url}api/status?token=wrong"))
        assert refused(get(f"{lab.base_url}lab"))

        assert listening_addresses(lab.process.pid) == {"127.0.0.1"}

        assert lab.browse_url == f"{lab.base_url}lab/tree/small.ipynb?token={lab.token}"
        assert get(lab.browse_url).status_code == 200
        assert lab.url("api/contents?content=0").endswith(f"&token={lab.token}")

        # collaborative=False reaches the front end as disableRTC.
        page = get(lab.url("lab")).text
        assert re.search(r'"disableRTC":\s*true', page)
        assert re.search(r'"news":\s*\{"disabled":\s*true\}', page)

        # A kernel the server starts ends with it.
        headers = {"Authorization": f"token {lab.token}"}
        made = httpx.post(
            f"{lab.base_url}api/kernels",
            json={"name": "python3"},
            headers=headers,
            trust_env=False,
            timeout=120,
        )
        assert made.status_code == 201, made.text
        kernels = psutil.Process(lab.process.pid).children(recursive=True)
        assert kernels

        started = time.monotonic()
        lab.stop()
        stop_s = time.monotonic() - started

    assert lab.process.poll() is not None
    assert not any(k.is_running() for k in kernels)
    assert nobody_listens(lab.port)
    assert stop_s < 10
    lab.stop()  # idempotent
    # Jupyter's state went to the data folder, not into the served tree.
    assert not (root / ".jupyter").exists()
    assert (data_dir / "jupyter" / "runtime").is_dir()


def test_settings_token_and_a_missing_open_path(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VEGA_LAB_TOKEN", "fixed-token-123")
    get_settings.cache_clear()
    # The default open_path (notebooks/00_tour.ipynb) is not in this root: lab opens at home.
    with start_lab(root=root, port=0) as lab:
        assert lab.token == "fixed-token-123"
        assert lab.open_path is None
        assert lab.browse_url == f"{lab.base_url}lab?token=fixed-token-123"


def test_busy_port_raises_server_error(root: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ServerError, match=f"port {port}.*VEGA_LAB_PORT.*--port"):
            start_lab(root=root, port=port)
        with pytest.raises(ServerError, match=f"port {port}.*VEGA_DASHBOARDS_PORT.*--port"):
            start_dashboards(root=root, port=port)


def test_a_server_that_dies_raises_server_error_with_its_log(root: Path) -> None:
    with pytest.raises(ServerError, match="exited with code") as info:
        start_lab(root=root, port=0, extra_args=["--ServerApp.root_dir=/no/such/folder"])
    assert "/no/such/folder" in str(info.value)


def test_a_server_that_is_too_slow_is_stopped(root: Path) -> None:
    port = free_port()
    with pytest.raises(ServerError, match="did not answer"):
        start_lab(root=root, port=port, timeout_s=0.5)
    # The half-started server was stopped, not left behind.
    time.sleep(0.5)
    assert nobody_listens(port)
    assert not [p for p in psutil.process_iter(["cmdline"]) if _is_lab_on(p, port)]


def _is_lab_on(proc: psutil.Process, port: int) -> bool:
    cmdline = proc.info.get("cmdline") or []
    return "jupyterlab" in cmdline and f"--ServerApp.port={port}" in cmdline


def test_dashboards_render_with_token_only(root: Path) -> None:
    with start_dashboards(root=root, port=0, open_path="tiny.ipynb") as voila:
        assert voila.kind == "dashboards"
        assert voila.browse_url == f"{voila.base_url}voila/render/tiny.ipynb?token={voila.token}"
        assert listening_addresses(voila.process.pid) == {"127.0.0.1"}

        page = get(voila.browse_url)
        assert page.status_code == 200
        assert "text/html" in page.headers["content-type"]
        assert MARKER in page.text  # the code cell ran and its output was rendered
        assert "A tiny dashboard" in page.text

        assert refused(get(f"{voila.base_url}voila/render/tiny.ipynb"))
        assert refused(get(f"{voila.base_url}voila/render/tiny.ipynb?token=wrong"))
        assert refused(get(voila.base_url))

        # The home page is the dashboard list; its contents API lists the notebook.
        assert get(voila.url("")).status_code == 200
        listing = get(voila.url("voila/api/contents"))
        assert listing.status_code == 200
        assert "tiny.ipynb" in {item["name"] for item in listing.json()["content"]}
    assert voila.process.poll() is not None
    assert nobody_listens(voila.port)


def test_dashboards_reject_unknown_dashboard_and_folder(root: Path) -> None:
    with pytest.raises(ServerError, match=r"nope\.ipynb.*tiny\.ipynb"):
        start_dashboards(root=root, open_path="nope.ipynb", port=0)
    with pytest.raises(ServerError, match="not a folder"):
        start_dashboards(root=root, notebook_dir="no-such-dir", port=0)
