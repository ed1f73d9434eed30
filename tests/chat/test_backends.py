"""Chat-backend conformance suite, run against real servers and the real embedded model.

Every backend in ``BACKENDS`` goes through the same contract: ``openai`` against the embedded
llama.cpp server started by ``vega_lab.chat.server``, ``inprocess`` against the model loaded in
this process, and ``ollama`` against a small Ollama-protocol adapter defined here (no Ollama
daemon exists on this machine): it speaks Ollama's ``/api/chat`` and relays to the same real
embedded model, so the test exercises the real NDJSON client against real generations.
Resilience is checked against a closed port, servers that answer garbage, and a flaky one.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from vega_lab.chat import server as chat_server
from vega_lab.chat.backends import (
    BACKENDS,
    ChatBackend,
    CircuitBreaker,
    CircuitOpenError,
    InProcessBackend,
    OllamaBackend,
    OpenAIHTTPBackend,
    RetryPolicy,
    get_backend,
)
from vega_lab.chat.models import resolve_model
from vega_lab.config import get_settings
from vega_lab.errors import (
    BackendError,
    BackendUnavailableError,
    ModelNotFoundError,
    UnknownNameError,
)

pytestmark = [pytest.mark.slow, pytest.mark.anyio]


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


FRANCE = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Complete the sentence: The capital of France is"},
]
GREEDY = {"temperature": 0.0, "max_tokens": 24, "timeout": 30.0}


@pytest.fixture(scope="module")
def chat_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Settings point at a private data folder, so a user's running server is never touched."""
    home = tmp_path_factory.mktemp("chat")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VEGA_DATA_DIR", str(home / "data"))
        get_settings.cache_clear()
        yield home
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def embedded(chat_home: Path) -> Iterator[chat_server.ChatServerInfo]:
    info = chat_server.start_server(state_dir=chat_home, threads=2)
    yield info
    assert chat_server.stop_server(state_dir=chat_home)


def _serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _ollama_adapter(info: chat_server.ChatServerInfo) -> type[BaseHTTPRequestHandler]:
    """Ollama's /api/chat and /api/tags, relayed to the embedded server's OpenAI API."""
    auth = {"Authorization": f"Bearer {info.api_key}"}

    class Adapter(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _send(self, obj: dict) -> None:
            self.wfile.write(json.dumps(obj).encode() + b"\n")
            self.wfile.flush()

        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/api/tags" else 404)
            self.end_headers()
            self._send({"models": [{"name": "smollm2:135m"}]})

        def do_POST(self) -> None:
            req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            opts = req.get("options", {})
            body = {
                "messages": req["messages"],
                "temperature": opts.get("temperature", 0.8),
                "max_tokens": opts.get("num_predict", 128),
                "stream": bool(req.get("stream", True)),
            }
            url = f"{info.url}/v1/chat/completions"
            self.send_response(200)
            self.send_header("Content-Type", "application/x-ndjson")
            self.end_headers()
            with httpx.Client(timeout=60) as client:
                if not body["stream"]:
                    data = client.post(url, json=body, headers=auth).json()
                    self._send(
                        {
                            "model": req["model"],
                            "message": data["choices"][0]["message"],
                            "done": True,
                            "prompt_eval_count": data["usage"]["prompt_tokens"],
                            "eval_count": data["usage"]["completion_tokens"],
                        }
                    )
                    return
                with client.stream("POST", url, json=body, headers=auth) as resp:
                    for line in resp.iter_lines():
                        if not line.startswith("data: ") or line == "data: [DONE]":
                            continue
                        delta = json.loads(line[6:])["choices"][0]["delta"]
                        if delta.get("content"):
                            msg = {"role": "assistant", "content": delta["content"]}
                            self._send({"model": req["model"], "message": msg, "done": False})
            self._send({"model": req["model"], "done": True})

    return Adapter


@pytest.fixture(scope="module")
def ollama_url(embedded: chat_server.ChatServerInfo) -> Iterator[str]:
    yield from _serve(_ollama_adapter(embedded))


@pytest.fixture(params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest, chat_home: Path) -> ChatBackend:
    name = request.param
    if name == "openai":
        info = request.getfixturevalue("embedded")
        return OpenAIHTTPBackend(info.url, api_key=info.api_key, breaker=CircuitBreaker())
    if name == "ollama":
        return OllamaBackend(request.getfixturevalue("ollama_url"), breaker=CircuitBreaker())
    assert name == "inprocess", f"add {name} to the conformance suite"
    return InProcessBackend(threads=2)


# --- the contract every backend meets --------------------------------------------------------


async def test_complete_is_deterministic_and_counted(backend: ChatBackend) -> None:
    first = await backend.complete(FRANCE, **GREEDY)
    second = await backend.complete(FRANCE, **GREEDY)
    assert "Paris" in first.text
    assert first.text == second.text
    assert first.backend == backend.name
    assert first.prompt_tokens and first.prompt_tokens > 5
    assert first.completion_tokens and first.completion_tokens > 1
    assert first.latency_s > 0


async def test_stream_pieces_join_to_the_completion(backend: ChatBackend) -> None:
    whole = await backend.complete(FRANCE, **GREEDY)
    pieces = [piece async for piece in backend.stream(FRANCE, **GREEDY)]
    assert len(pieces) > 1
    assert "".join(pieces) == whole.text


def test_sync_helpers_and_health(backend: ChatBackend) -> None:
    assert backend.health_sync() is True
    pieces = list(backend.stream_sync(FRANCE, **GREEDY))
    assert "".join(pieces) == backend.complete_sync(FRANCE, **GREEDY).text


def test_registry_names_every_backend() -> None:
    with pytest.raises(UnknownNameError, match="inprocess, ollama, openai"):
        get_backend("nope")
    assert isinstance(get_backend("ollama", base_url="http://127.0.0.1:1"), OllamaBackend)


# --- the embedded server ------------------------------------------------------------------


def test_embedded_server_is_reused_and_needs_its_key(
    embedded: chat_server.ChatServerInfo, chat_home: Path
) -> None:
    again = chat_server.ensure_server(state_dir=chat_home)
    assert again.pid == embedded.pid
    assert embedded.url.startswith("http://127.0.0.1:")
    no_key = httpx.post(f"{embedded.url}/v1/chat/completions", json={"messages": FRANCE})
    assert no_key.status_code == 401
    state = chat_home / "server.json"
    assert state.stat().st_mode & 0o077 == 0  # the key is readable by this user only


def test_models_resolve_or_say_what_to_do(tmp_path: Path) -> None:
    assert resolve_model("smollm2-135m").suffix == ".gguf"
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        resolve_model(tmp_path / "missing.gguf")
    with pytest.raises(UnknownNameError, match="smollm2-135m"):
        resolve_model("gpt-17")


# --- resilience ---------------------------------------------------------------------------


def _closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _recording_policy(attempts: int = 3) -> tuple[RetryPolicy, list[float]]:
    slept: list[float] = []

    async def sleep(s: float) -> None:
        slept.append(s)

    return RetryPolicy(attempts=attempts, base_delay_s=0.1, seed=7, sleep=sleep), slept


HTTP_BACKENDS: dict[str, Callable[..., ChatBackend]] = {
    "openai": OpenAIHTTPBackend,
    "ollama": OllamaBackend,
}


@pytest.mark.parametrize("name", sorted(HTTP_BACKENDS))
async def test_down_server_is_unavailable_after_bounded_retries(name: str) -> None:
    url = _closed_port()
    policy, slept = _recording_policy()
    client = HTTP_BACKENDS[name](url, retry=policy, breaker=CircuitBreaker())
    start = time.monotonic()
    with pytest.raises(BackendUnavailableError, match=url) as err:
        await client.complete(FRANCE, timeout=5)
    assert time.monotonic() - start < 5
    assert len(slept) == 2  # three attempts, two back-offs
    assert "start it with" in str(err.value)
    assert await client.health() is False
    with pytest.raises(BackendUnavailableError, match=url):
        [p async for p in client.stream(FRANCE, timeout=5)]


def test_retry_delays_grow_and_are_seeded() -> None:
    a, b = RetryPolicy(seed=3), RetryPolicy(seed=3)
    delays = [a.delay(i) for i in range(4)]
    assert delays == [b.delay(i) for i in range(4)]
    assert delays[0] < delays[1] < delays[2] <= 2.0 * 1.25


def _fixed_reply(status: int, body: bytes) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        calls = 0

        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            type(self).calls += 1
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(status)
            self.end_headers()
            self.wfile.write(body)

    return Handler


@pytest.mark.parametrize("name", sorted(HTTP_BACKENDS))
@pytest.mark.parametrize("body", [b"<html>not json</html>", b'{"unexpected": true}'])
async def test_garbage_reply_is_a_backend_error_naming_the_url(name: str, body: bytes) -> None:
    handler = _fixed_reply(200, body)
    for url in _serve(handler):
        client = HTTP_BACKENDS[name](url, breaker=CircuitBreaker())
        with pytest.raises(BackendError, match=url) as err:
            await client.complete(FRANCE, timeout=5)
        assert not isinstance(err.value, BackendUnavailableError)
        assert handler.calls == 1  # garbage is not retried
        if body.startswith(b"<"):
            with pytest.raises(BackendError, match=url):
                [p async for p in client.stream(FRANCE, timeout=5)]


async def test_circuit_opens_fails_fast_and_half_opens() -> None:
    now = [0.0]
    breaker = CircuitBreaker(failure_threshold=2, reset_after_s=10, clock=lambda: now[0])
    policy, _ = _recording_policy(attempts=1)
    handler = _fixed_reply(503, b"overloaded")
    for url in _serve(handler):
        client = OpenAIHTTPBackend(url, retry=policy, breaker=breaker)
        for _ in range(2):
            with pytest.raises(BackendError, match="HTTP 503"):
                await client.complete(FRANCE, timeout=5)
        assert breaker.state == "open" and handler.calls == 2
        with pytest.raises(CircuitOpenError, match=url):
            await client.complete(FRANCE, timeout=5)
        assert handler.calls == 2  # failed fast: nothing was sent
        now[0] += 10
        assert breaker.state == "half-open"
        with pytest.raises(BackendError, match="HTTP 503"):  # the trial call fails: reopen
            await client.complete(FRANCE, timeout=5)
        assert breaker.state == "open" and handler.calls == 3
    ok = json.dumps({"choices": [{"message": {"content": "hi"}}], "usage": {}}).encode()
    for url in _serve(_fixed_reply(200, ok)):
        now[0] += 10
        client = OpenAIHTTPBackend(url, retry=policy, breaker=breaker)
        assert (await client.complete(FRANCE, timeout=5)).text == "hi"
        assert breaker.state == "closed" and breaker.failures == 0
