"""Chat backends by name (one module per protocol, one interface in ``base``).

``get_backend("openai")`` is what a Papermill parameter or a dropdown passes; the default comes
from ``VEGA_CHAT_BACKEND``.
"""

from __future__ import annotations

from typing import Any

from vega_lab.chat.backends.base import ChatBackend, Completion, Message
from vega_lab.chat.backends.inprocess import InProcessBackend
from vega_lab.chat.backends.ollama import OllamaBackend
from vega_lab.chat.backends.openai_http import OpenAIHTTPBackend
from vega_lab.chat.backends.resilience import CircuitBreaker, CircuitOpenError, RetryPolicy
from vega_lab.config import get_settings
from vega_lab.registry import lookup

__all__ = [
    "BACKENDS",
    "ChatBackend",
    "CircuitBreaker",
    "CircuitOpenError",
    "Completion",
    "InProcessBackend",
    "Message",
    "OllamaBackend",
    "OpenAIHTTPBackend",
    "RetryPolicy",
    "get_backend",
]

BACKENDS: dict[str, type[ChatBackend]] = {
    "openai": OpenAIHTTPBackend,
    "ollama": OllamaBackend,
    "inprocess": InProcessBackend,
}


def get_backend(name: str | None = None, **options: Any) -> ChatBackend:
    """A backend instance by name (default ``VEGA_CHAT_BACKEND``); options go to its class."""
    name = name or get_settings().chat_backend
    return lookup(BACKENDS, name, "chat backend")(**options)
