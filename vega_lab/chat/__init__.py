"""Chat with local LLMs, every exchange logged to SQLite.

- `ask(prompt, session=None)` / `Conversation`: one conversation with memory read back from
  the store; a failed backend call is logged next to the prompt (session.py).
- `get_backend(name)`: OpenAI-compatible HTTP, Ollama's native API, or the model in-process
  (backends/); `ensure_server()` starts or reuses the embedded llama.cpp server (server.py).
- `open_conversations()`: the conversation store (WAL, FTS5 search, feedback, retention, PII
  masking, JSONL export; store.py).

Imports are lazy: `import vega_lab.chat` stays cheap for the CLI and dashboards.
"""

from __future__ import annotations

from vega_lab._lazy import lazy_exports

_LAZY = {
    "ask": "vega_lab.chat.session",
    "Conversation": "vega_lab.chat.session",
    "Reply": "vega_lab.chat.session",
    "get_backend": "vega_lab.chat.backends",
    "BACKENDS": "vega_lab.chat.backends",
    "ensure_server": "vega_lab.chat.server",
    "stop_server": "vega_lab.chat.server",
    "open_conversations": "vega_lab.chat.store",
    "ConversationStore": "vega_lab.chat.store",
}
__all__ = list(_LAZY)

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
