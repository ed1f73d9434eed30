"""A conversation: memory from the store, a backend call, and every exchange logged.

The user's prompt is written *before* the backend is called, so a backend that is down or
answers garbage loses nothing: the prompt stays in the store next to an assistant row that
carries the error. Memory is the session's last messages read back from the store, so a
notebook, the CLI and a dashboard continuing one session see the same conversation.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from vega_lab.errors import ChatError, VegaError

DEFAULT_SYSTEM = "You are a helpful, concise assistant."


@dataclass(frozen=True)
class Reply:
    """One answer as the faces show it (the CLI's --json prints ``as_dict()``)."""

    response: str
    session: str
    model: str
    backend: str
    latency_s: float
    ttft_s: float | None
    prompt_tokens: int | None
    completion_tokens: int | None
    message_id: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Conversation:
    """Talk to a chat backend within one stored session.

    ``backend``/``model`` default to the settings (``VEGA_CHAT_BACKEND``, ``VEGA_CHAT_MODEL``);
    ``memory`` is how many earlier messages go with each prompt. ``name`` (without ``session``)
    continues the session of that name or id, or starts one under that name at the first
    prompt: the CLI is a new process per prompt, so ``vega-lab chat --session NAME`` keeps its
    names in the store (``%%chat --session NAME`` keeps them within one kernel)."""

    def __init__(
        self,
        session: str | None = None,
        *,
        backend: Any = None,
        model: str | None = None,
        store: Any = None,
        system_prompt: str | None = DEFAULT_SYSTEM,
        memory: int = 20,
        name: str | None = None,
    ) -> None:
        from vega_lab.chat.backends import ChatBackend, get_backend
        from vega_lab.chat.store import open_conversations
        from vega_lab.config import get_settings

        self.backend = backend if isinstance(backend, ChatBackend) else get_backend(backend)
        self.model = model or get_settings().chat_model
        self.store = store or open_conversations()
        if name is not None and not name.strip():
            raise ChatError("the session name is empty", "pass a name, or none for a new session")
        self.name = name
        self.session = session or (find_session(self.store, name) if name else None)
        self.system_prompt = system_prompt
        self.memory = memory

    def _messages(self, prompt: str) -> list[dict[str, str]]:
        earlier = []
        if self.session is not None:
            rows = self.store.history(self.session)
            earlier = [
                {"role": m.role, "content": m.content}
                for m in rows
                if m.role in ("user", "assistant") and not m.error and m.content
            ][-self.memory :]
        system = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        return [*system, *earlier, {"role": "user", "content": prompt}]

    def ask(
        self,
        prompt: str,
        *,
        on_token: Callable[[str], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        max_tokens: int = 256,
        temperature: float = 0.2,
    ) -> Reply:
        """Send ``prompt`` with the session's memory; ``on_token`` streams the answer piece by
        piece, ``should_stop`` (checked between pieces) ends it early. Logged either way."""
        if not isinstance(prompt, str) or not prompt.strip():
            raise ChatError("the prompt is empty", "type a question or an instruction")
        messages = self._messages(prompt)
        if self.session is None:
            meta = {"name": self.name} if self.name else None
            self.session = self.store.new_session(self.name or prompt.strip()[:80], meta)
        self.store.add_message(self.session, "user", prompt)
        options = {"model": self.model, "max_tokens": max_tokens, "temperature": temperature}
        t0 = time.perf_counter()
        try:
            if on_token is None:
                done = self.backend.complete_sync(messages, **options)
                text, ttft = done.text, done.ttft_s
                tokens = (done.prompt_tokens, done.completion_tokens)
            else:
                text, ttft = self._stream(messages, options, on_token, should_stop, t0)
                tokens = (None, None)
        except VegaError as exc:
            self._log_failure(exc, t0)
            raise
        except Exception as exc:  # a bug or a protocol surprise: still logged, then named
            self._log_failure(exc, t0)
            raise ChatError(f"the {self.backend.name} backend failed: {exc}") from exc
        latency = time.perf_counter() - t0
        if not text.strip():
            err = ChatError(f"the {self.backend.name} backend returned an empty answer")
            self._log_failure(err, t0)
            raise err
        mid = self.store.add_message(
            self.session, "assistant", text, model=self.model, backend=self.backend.name,
            latency_s=latency, prompt_tokens=tokens[0], completion_tokens=tokens[1],
        )  # fmt: skip
        return Reply(
            response=text, session=self.session, model=self.model, backend=self.backend.name,
            latency_s=latency, ttft_s=ttft, prompt_tokens=tokens[0],
            completion_tokens=tokens[1], message_id=mid,
        )  # fmt: skip

    def _stream(self, messages, options, on_token, should_stop, t0) -> tuple[str, float | None]:
        pieces: list[str] = []
        ttft = None
        stream = self.backend.stream_sync(messages, **options)
        try:
            for piece in stream:
                if ttft is None:
                    ttft = time.perf_counter() - t0
                pieces.append(piece)
                on_token(piece)
                if should_stop is not None and should_stop():
                    break
        finally:
            stream.close()
        return "".join(pieces), ttft

    def _log_failure(self, exc: BaseException, t0: float) -> None:
        self.store.add_message(
            self.session, "assistant", "", model=self.model, backend=self.backend.name,
            latency_s=time.perf_counter() - t0, error=f"{type(exc).__name__}: {exc}",
        )  # fmt: skip


def find_session(store: Any, name: str) -> str | None:
    """The live session ``name`` refers to: a stored session id, else the newest session
    started under that name (``Conversation(name=...)``); None when there is none."""
    live = store.sessions()
    by_id = next((s.id for s in live if s.id == name), None)
    return by_id or next((s.id for s in live if s.metadata.get("name") == name), None)


def ask(prompt: str, session: str | None = None, **options: Any) -> Reply:
    """One exchange: ``ask("hi")`` starts a session, ``ask("more", session=reply.session)``
    continues it."""
    keys = ("backend", "model", "store", "system_prompt", "memory", "name")
    conv = Conversation(session, **{k: options.pop(k) for k in keys if k in options})
    return conv.ask(prompt, **options)
