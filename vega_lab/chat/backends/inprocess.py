"""The model inside this process through xllamacpp: no HTTP hop and no server to manage.

Best for one process that owns the model (a batch job, a benchmark); the embedded *server* is
better when several processes share it or a crash must not take the kernel with it. One loaded
model per (file, context, threads) is kept for the process and shared by every instance.

xllamacpp's ``Server`` also opens llama.cpp's HTTP listener (on a free loopback port); it gets a
random API key so nothing else on the machine can use it.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from vega_lab.chat.backends.base import ChatBackend, Completion, Message
from vega_lab.chat.models import resolve_model
from vega_lab.chat.server import default_threads, llama_params
from vega_lab.config import get_settings
from vega_lab.errors import BackendError, BackendUnavailableError

__all__ = ["InProcessBackend"]

_SERVERS: dict[tuple[str, int, int], Any] = {}
_LOCK = threading.Lock()


def _load(path: Path, n_ctx: int, threads: int) -> Any:
    key = (str(path), n_ctx, threads)
    with _LOCK:
        if key not in _SERVERS:
            import xllamacpp

            # quiet: llama.cpp's log would flood a notebook's output
            params = llama_params(
                path, n_ctx=n_ctx, threads=threads, port=0,
                api_key=secrets.token_urlsafe(24), quiet=True,
            )  # fmt: skip
            _SERVERS[key] = xllamacpp.Server(params)
        return _SERVERS[key]


class InProcessBackend(ChatBackend):
    """Chat with a GGUF model loaded in this process (``model``: registry name or path)."""

    name = "inprocess"

    def __init__(
        self, model: str | Path | None = None, *, n_ctx: int = 4096, threads: int | None = None
    ) -> None:
        self.model_path = resolve_model(model or get_settings().chat_model)
        self.n_ctx = n_ctx
        self.threads = threads or default_threads()

    def _server(self) -> Any:
        try:
            return _load(self.model_path, self.n_ctx, self.threads)
        except Exception as exc:  # a native load failure: name the file and what to do
            raise BackendUnavailableError(
                f"cannot load {self.model_path} in process ({exc})",
                "check the file is a GGUF model llama.cpp supports",
            ) from exc

    def _request(
        self, messages: list[Message], max_tokens: int, temperature: float, stream: bool
    ) -> dict[str, Any]:
        return {
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": temperature,
            "stream": stream,
        }

    async def complete(
        self,
        messages: list[Message],
        *,
        model: str | None = None,
        max_tokens: int = 256,
        temperature: float = 0.7,
        timeout: float = 60.0,
    ) -> Completion:
        """``timeout`` stops the wait; llama.cpp finishes the (bounded) generation anyway."""
        server = await asyncio.to_thread(self._server)
        request = self._request(messages, max_tokens, temperature, False)
        start = time.perf_counter()
        try:
            reply = await asyncio.wait_for(
                asyncio.to_thread(server.handle_chat_completions, request), timeout
            )
        except TimeoutError:
            raise BackendUnavailableError(
                f"the in-process model did not answer within {timeout:g} s",
                "allow a longer timeout or a smaller max_tokens",
            ) from None
        except ValueError as exc:
            raise BackendError(f"the in-process model rejected the request: {exc}") from exc
        latency = time.perf_counter() - start
        try:
            if "error" in reply:
                raise BackendError(f"the in-process model failed: {reply['error']}")
            text = reply["choices"][0]["message"]["content"]
            usage = reply.get("usage") or {}
        except (KeyError, IndexError, TypeError) as exc:
            raise BackendError(f"the in-process model replied without text ({exc})") from exc
        return Completion(
            text=text,
            model=str(self.model_path.name),
            backend=self.name,
            latency_s=latency,
            prompt_tokens=usage.get("prompt_tokens"),
            completion_tokens=usage.get("completion_tokens"),
        )

    async def stream(
        self,
        messages: list[Message],
        *,
        model: str | None = None,
        max_tokens: int = 256,
        temperature: float = 0.7,
        timeout: float = 60.0,
    ) -> AsyncIterator[str]:
        """llama.cpp calls back from its own thread; pieces cross to this loop via a queue."""
        server = await asyncio.to_thread(self._server)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        end = object()

        def on_chunk(chunk: Any) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, chunk)

        def run() -> None:
            try:
                server.handle_chat_completions(
                    self._request(messages, max_tokens, temperature, True), on_chunk
                )
            except Exception as exc:  # delivered to the consumer, not lost in the thread
                loop.call_soon_threadsafe(queue.put_nowait, exc)
            loop.call_soon_threadsafe(queue.put_nowait, end)

        worker = loop.run_in_executor(None, run)
        try:
            while True:
                try:
                    chunk = await asyncio.wait_for(queue.get(), timeout)
                except TimeoutError:
                    raise BackendUnavailableError(
                        f"the in-process model sent nothing for {timeout:g} s"
                    ) from None
                if chunk is end:
                    return
                if isinstance(chunk, Exception):
                    raise BackendError(f"the in-process model failed: {chunk}") from chunk
                if isinstance(chunk, dict) and "error" in chunk:
                    raise BackendError(f"the in-process model failed: {chunk['error']}")
                choices = chunk.get("choices") if isinstance(chunk, dict) else None
                piece = (choices[0].get("delta") or {}).get("content") if choices else None
                if piece:
                    yield piece
        finally:
            if not worker.done():
                worker.add_done_callback(lambda _: None)  # let it finish in the background

    async def health(self) -> bool:
        try:
            await asyncio.to_thread(self._server)
            return True
        except BackendError:
            return False
