"""The one chat-backend interface: async complete/stream/health, plus sync twins for notebooks.

Every backend speaks OpenAI-style messages (``[{"role": "user", "content": "..."}]``) and returns
a ``Completion`` with timings and token counts, so panels, the CLI and benchmarks never care which
protocol is behind it. The sync helpers run the coroutines on one private event-loop thread: that
works the same in a plain script and inside Jupyter, whose kernel already runs a loop.
"""

from __future__ import annotations

import asyncio
import threading
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

__all__ = ["ChatBackend", "Completion", "Message", "run_sync"]

Message = dict[str, str]
T = TypeVar("T")


@dataclass(frozen=True)
class Completion:
    """One answer. ``ttft_s`` (time to first token) is known only when it was streamed."""

    text: str
    model: str
    backend: str
    latency_s: float
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    ttft_s: float | None = None

    @property
    def tokens_per_s(self) -> float | None:
        """Generated tokens per second of wall time (prompt processing included)."""
        if not self.completion_tokens or self.latency_s <= 0:
            return None
        return self.completion_tokens / self.latency_s


class ChatBackend(ABC):
    """A way to talk to a chat model. Subclasses implement the three async methods."""

    name: ClassVar[str]
    default_max_tokens: ClassVar[int] = 256

    @abstractmethod
    async def complete(
        self,
        messages: list[Message],
        *,
        model: str | None = None,
        max_tokens: int = default_max_tokens,
        temperature: float = 0.7,
        timeout: float = 60.0,
    ) -> Completion:
        """The whole answer at once."""

    @abstractmethod
    def stream(
        self,
        messages: list[Message],
        *,
        model: str | None = None,
        max_tokens: int = default_max_tokens,
        temperature: float = 0.7,
        timeout: float = 60.0,
    ) -> AsyncIterator[str]:
        """Text pieces as the model produces them (an async generator)."""

    @abstractmethod
    async def health(self) -> bool:
        """Whether the backend can answer now (never raises)."""

    def complete_sync(self, messages: list[Message], **options: Any) -> Completion:
        """``complete`` for code without an event loop of its own (notebook cells, the CLI)."""
        return run_sync(self.complete(messages, **options))

    def stream_sync(self, messages: list[Message], **options: Any) -> Iterator[str]:
        """``stream`` as a plain iterator; closing it early cancels the request."""
        agen = self.stream(messages, **options).__aiter__()
        try:
            while True:
                try:
                    yield run_sync(agen.__anext__())
                except StopAsyncIteration:
                    return
        finally:
            run_sync(agen.aclose())  # type: ignore[attr-defined]

    def health_sync(self) -> bool:
        return run_sync(self.health())


_LOOP: asyncio.AbstractEventLoop | None = None
_LOOP_LOCK = threading.Lock()


def _loop() -> asyncio.AbstractEventLoop:
    global _LOOP
    with _LOOP_LOCK:
        if _LOOP is None or _LOOP.is_closed():
            _LOOP = asyncio.new_event_loop()
            threading.Thread(target=_LOOP.run_forever, name="vega-chat-loop", daemon=True).start()
        return _LOOP


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on the private loop thread and wait for it (safe under a running loop)."""
    return asyncio.run_coroutine_threadsafe(coro, _loop()).result()
