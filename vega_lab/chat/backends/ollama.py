"""Ollama's native ``/api/chat`` (NDJSON streaming), for an Ollama daemon without its ``/v1``
shim or for its native options. Default URL ``http://127.0.0.1:11434`` unless VEGA_CHAT_URL.

Model names are Ollama's (``smollm2:135m``); the registry's default ``smollm2-135m`` is mapped.
"""

from __future__ import annotations

from typing import Any

from vega_lab.chat.backends._http import DONE, HTTPChatBackend, garbage, loads_line
from vega_lab.chat.backends.base import Message
from vega_lab.config import get_settings

__all__ = ["OllamaBackend"]

DEFAULT_URL = "http://127.0.0.1:11434"
_NAMES = {"smollm2-135m": "smollm2:135m"}


class OllamaBackend(HTTPChatBackend):
    """Chat over Ollama's own protocol."""

    name = "ollama"
    start_hint = "start it with `ollama serve`, or set VEGA_CHAT_URL to a running Ollama"

    def __init__(self, base_url: str | None = None, **options: Any) -> None:
        settings = get_settings()
        options.setdefault("model", _NAMES.get(settings.chat_model, settings.chat_model))
        url = base_url or (settings.chat_backend == "ollama" and settings.chat_url) or DEFAULT_URL
        super().__init__(url, **options)

    def endpoint(self, base: str) -> str:
        return f"{base}/api/chat"

    def health_url(self, base: str) -> str:
        return f"{base}/api/tags"

    def payload(
        self, messages: list[Message], model: str, max_tokens: int, temperature: float, stream: bool
    ) -> dict[str, Any]:
        return {
            "model": _NAMES.get(model, model),
            "messages": messages,
            "stream": stream,
            "options": {"temperature": temperature, "num_predict": max_tokens},
        }

    def parse(self, data: Any, url: str) -> tuple[str, str, int | None, int | None]:
        text = data["message"]["content"]
        if not isinstance(text, str):
            raise garbage(url, "message.content is not text")
        model = str(data.get("model") or self.model or "")
        return text, model, data.get("prompt_eval_count"), data.get("eval_count")

    def parse_line(self, line: str, url: str) -> str | object | None:
        chunk = loads_line(line, url)
        if not isinstance(chunk, dict):
            raise garbage(url, f"a streamed line is not an object: {line[:80]!r}")
        if "error" in chunk:
            raise garbage(url, f"error in stream: {str(chunk['error'])[:200]}")
        piece = (chunk.get("message") or {}).get("content")
        if chunk.get("done"):
            return piece or DONE
        return piece
