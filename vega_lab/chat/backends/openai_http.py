"""OpenAI-compatible ``/v1/chat/completions``: the embedded server, llama.cpp, vLLM, LM Studio,
Ollama's ``/v1``, or a hosted API. The widest-spoken protocol, hence the default backend.

With no URL (neither given nor ``VEGA_CHAT_URL``) it uses the embedded model server, started on
first use and shared with every other process (``vega_lab.chat.server``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from vega_lab.chat.backends._http import DONE, HTTPChatBackend, garbage, loads_line
from vega_lab.chat.backends.base import Message
from vega_lab.config import get_settings

__all__ = ["OpenAIHTTPBackend"]


def _api_base(base: str) -> str:
    """Accept ``http://host:port`` and ``http://host:port/v1`` alike."""
    return base if base.rstrip("/").endswith("/v1") else f"{base.rstrip('/')}/v1"


class OpenAIHTTPBackend(HTTPChatBackend):
    """Chat over the OpenAI protocol (SSE ``data:`` lines when streaming)."""

    name = "openai"
    start_hint = (
        "start it with `vega-lab chat-server` (or vega_lab.chat.server.ensure_server()), "
        "or set VEGA_CHAT_URL to a running OpenAI-compatible server"
    )

    def __init__(self, base_url: str | None = None, **options: Any) -> None:
        settings = get_settings()
        key = settings.chat_api_key.get_secret_value() if settings.chat_api_key else None
        options.setdefault("api_key", key)
        options.setdefault("model", settings.chat_model)
        super().__init__(base_url or settings.chat_url, **options)
        self._server: Any = None  # the embedded server found by the last resolve()

    async def resolve(self) -> tuple[str, str | None, str]:
        """The embedded server is looked up (state file, health checks) once per backend, not
        per call: that lookup costs two HTTP round-trips. A server whose process is gone is
        looked up (or started) again."""
        if self.base_url is not None:
            return self.base_url, self.api_key, self.model or "default"
        from vega_lab.chat.server import _is_ours, ensure_server

        info = self._server
        if info is None or not _is_ours(info.pid):
            info = self._server = await asyncio.to_thread(ensure_server, self.model)
        return info.url, info.api_key, self.model or "default"

    def endpoint(self, base: str) -> str:
        return f"{_api_base(base)}/chat/completions"

    def health_url(self, base: str) -> str:
        return f"{_api_base(base)}/models"

    def payload(
        self, messages: list[Message], model: str, max_tokens: int, temperature: float, stream: bool
    ) -> dict[str, Any]:
        return {
            "model": model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": temperature,
            "stream": stream,
        }

    def parse(self, data: Any, url: str) -> tuple[str, str, int | None, int | None]:
        text = data["choices"][0]["message"]["content"]
        if not isinstance(text, str):
            raise garbage(url, "choices[0].message.content is not text")
        usage = data.get("usage") or {}
        model = str(data.get("model") or self.model or "")
        return text, model, usage.get("prompt_tokens"), usage.get("completion_tokens")

    def parse_line(self, line: str, url: str) -> str | object | None:
        if not line.startswith("data:"):
            if line.startswith((":", "event:", "id:", "retry:")):
                return None  # SSE comments and fields we do not need
            raise garbage(url, f"a streamed line is not SSE: {line[:80]!r}")
        data = line[5:].strip()
        if data == "[DONE]":
            return DONE
        chunk = loads_line(data, url)
        if "error" in chunk:
            raise garbage(url, f"error in stream: {str(chunk['error'])[:200]}")
        choices = chunk.get("choices") or []
        if not choices:
            return None  # e.g. a usage-only chunk
        return (choices[0].get("delta") or {}).get("content")
