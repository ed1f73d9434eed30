"""Two real clients co-edit one notebook through a real JupyterLab with jupyter-collaboration.

Each client is what a browser tab is underneath: a ``pycrdt.Doc`` holding a ``YNotebook``, kept
in sync by a ``pycrdt.Provider`` over the server's collaboration websocket. The test proves the
edits converge in both clients and reach the file on disk, and that the room refuses strangers.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import nbformat
import pytest
from httpx_ws import AsyncWebSocketSession, WebSocketDisconnect, WebSocketUpgradeError, aconnect_ws
from jupyter_ydoc import YNotebook
from pycrdt import Doc, Provider

from vega_lab.config import get_settings
from vega_lab.servers import ServerHandle, start_lab

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

FIRST = "x = 0"
EDIT_A = "a = 1  # from A"
EDIT_B = "b = 2  # from B"
FIRST_EDITED = "x = 0  # edited by B"


# ---- a websocket Channel for pycrdt.Provider --------------------------------------------------


class HttpxWsChannel:
    """Adapts an httpx-ws session to pycrdt's ``Channel`` protocol (path, send, recv, iteration)."""

    def __init__(self, ws: AsyncWebSocketSession, path: str) -> None:
        self._ws = ws
        self._path = path

    @property
    def path(self) -> str:
        return self._path

    def __aiter__(self) -> HttpxWsChannel:
        return self

    async def __anext__(self) -> bytes:
        try:
            return await self.recv()
        except WebSocketDisconnect:
            raise StopAsyncIteration from None

    async def send(self, message: bytes) -> None:
        await self._ws.send_bytes(message)

    async def recv(self) -> bytes:
        return await self._ws.receive_bytes()


@dataclass
class Client:
    name: str
    doc: Doc
    nb: YNotebook


@asynccontextmanager
async def collab_client(
    http: httpx.AsyncClient, room_url: str, token: str, name: str
) -> AsyncIterator[Client]:
    """One synced notebook client, as a browser tab would hold it."""
    doc = Doc()
    nb = YNotebook(doc)
    headers = {"Authorization": f"token {token}"}
    async with (
        aconnect_ws(room_url, http, headers=headers, max_message_size_bytes=16 * 2**20) as ws,
        Provider(doc, HttpxWsChannel(ws, room_url)) as provider,
    ):
        await asyncio.wait_for(provider.synced.wait(), 20)
        yield Client(name, doc, nb)


async def wait_for(what: str, check: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting until {what}")
        await asyncio.sleep(0.05)


def sources(nb: YNotebook) -> list[str]:
    return [cell["source"] for cell in nb.source["cells"]]


# ---- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def notebook_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("collab-root")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(FIRST)])
    nbformat.write(nb, root / "shared.ipynb")
    return root


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, notebook_root: Path) -> Iterator[ServerHandle]:
    """A collaborative JupyterLab on a free port; its state and logs go to a temp data dir."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VEGA_DATA_DIR", str(tmp_path_factory.mktemp("collab-data")))
        mp.delenv("VEGA_LAB_TOKEN", raising=False)
        get_settings.cache_clear()
        try:
            with start_lab(root=notebook_root, port=0, open_path=None, collaborative=True) as h:
                yield h
        finally:
            get_settings.cache_clear()


def open_session(lab: ServerHandle, path: str, headers: dict[str, str]) -> httpx.Response:
    return httpx.put(
        f"{lab.base_url}api/collaboration/session/{path}",
        json={"format": "json", "type": "notebook"},
        headers=headers,
        trust_env=False,
        timeout=30,
    )


# ---- tests ------------------------------------------------------------------------------------


def test_two_clients_co_edit_and_the_server_saves(lab: ServerHandle, notebook_root: Path) -> None:
    resp = open_session(lab, "shared.ipynb", {"Authorization": f"token {lab.token}"})
    assert resp.status_code in (200, 201), resp.text
    session = resp.json()
    file_id, session_id = session["fileId"], session["sessionId"]
    ws_base = lab.base_url.replace("http://", "ws://", 1)
    room_url = f"{ws_base}api/collaboration/room/json:notebook:{file_id}?sessionId={session_id}"

    async def co_edit() -> tuple[list[str], list[str]]:
        async with (
            httpx.AsyncClient(trust_env=False, timeout=30) as http,
            collab_client(http, room_url, lab.token, "A") as a,
            collab_client(http, room_url, lab.token, "B") as b,
        ):
            for client in (a, b):
                await wait_for(f"{client.name} sees the file", lambda c=client: sources(c.nb))
                assert sources(client.nb) == [FIRST]

            async def edit_a() -> None:
                a.nb.append_cell(new_cell(EDIT_A))

            async def edit_b() -> None:
                b.nb.set_cell(0, source=FIRST_EDITED)
                b.nb.append_cell(new_cell(EDIT_B))

            # Both documents change before either has seen the other's update.
            await asyncio.gather(edit_a(), edit_b())
            await wait_for(
                "both clients converge on all edits",
                lambda: sources(a.nb) == sources(b.nb) and len(sources(a.nb)) == 3,
            )
            assert a.nb.source == b.nb.source
            return sources(a.nb), sources(b.nb)

    in_a, in_b = asyncio.run(co_edit())
    for seen in (in_a, in_b):
        assert seen[0] == FIRST_EDITED
        assert sorted(seen[1:]) == sorted([EDIT_A, EDIT_B])

    # The server autosaves about a second after the last change.
    deadline = time.monotonic() + 20
    on_disk: list[str] = []
    while time.monotonic() < deadline:
        try:
            saved = nbformat.read(notebook_root / "shared.ipynb", as_version=4)
            on_disk = [cell.source for cell in saved.cells]
        except Exception:  # caught mid-write; read again
            on_disk = []
        if on_disk == in_a:
            break
        time.sleep(0.25)
    assert on_disk == in_a

    # Collaboration state (session store, Y updates) lives in the data folder, not in the tree
    # being served; only Jupyter's usual .ipynb_checkpoints appears beside the notebook.
    assert {p.name for p in notebook_root.iterdir()} <= {"shared.ipynb", ".ipynb_checkpoints"}


def test_lab_page_turns_collaboration_on(lab: ServerHandle) -> None:
    page = httpx.get(lab.url("lab"), trust_env=False, timeout=60).text
    assert re.search(r'"disableRTC":\s*false', page)


def test_collaboration_refuses_requests_without_the_token(lab: ServerHandle) -> None:
    assert open_session(lab, "shared.ipynb", {}).status_code == 403
    assert open_session(lab, "shared.ipynb", {"Authorization": "token wrong"}).status_code == 403

    good = open_session(lab, "shared.ipynb", {"Authorization": f"token {lab.token}"}).json()
    ws_base = lab.base_url.replace("http://", "ws://", 1)
    room_url = (
        f"{ws_base}api/collaboration/room/json:notebook:{good['fileId']}"
        f"?sessionId={good['sessionId']}"
    )

    async def connect_without_token() -> int:
        async with httpx.AsyncClient(trust_env=False, timeout=30) as http:
            try:
                async with aconnect_ws(room_url, http):
                    return 101
            except WebSocketUpgradeError as exc:
                return exc.response.status_code

    assert asyncio.run(connect_without_token()) == 403


def new_cell(source: str) -> dict[str, Any]:
    return {
        "cell_type": "code",
        "source": source,
        "metadata": {},
        "outputs": [],
        "execution_count": None,
    }
