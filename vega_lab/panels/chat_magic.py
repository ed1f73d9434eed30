"""``%chat`` / ``%%chat``: talk to a local model from any cell, with memory per named session.

``%load_ext vega_lab.panels.chat_magic``, then::

    %chat What is federated averaging?            # session "default"
    %%chat --session papers --backend inprocess
    Summarize the last answer in one line.

Options (before the prompt): ``--session NAME`` (default ``default``), ``--new`` (start that
name afresh), ``--backend B``, ``--model M``, ``--max-tokens N``. A name maps to a stored
session id for this process, so memory is the store's history: the CLI and the ChatPanel can
continue the same conversation. The answer streams into the cell output; failures print one
line (a `VegaError`'s message), never a traceback.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

from IPython.core.magic import Magics, line_cell_magic, magics_class

from vega_lab.chat.session import Conversation, Reply
from vega_lab.errors import ChatError, VegaError

__all__ = ["ChatMagics", "configure", "load_ipython_extension", "reset", "sessions"]


@dataclass
class _Defaults:
    backend: Any = None  # a name or a ChatBackend; None: the settings' default
    model: str | None = None
    store: Any = None  # None: open_conversations() at call time
    max_tokens: int = 256
    temperature: float = 0.2
    sessions: dict[str, str] = field(default_factory=dict)  # name -> stored session id


_STATE = _Defaults()
_FLAGS = {"--session": "session", "--backend": "backend", "--model": "model"}


def configure(**defaults: Any) -> None:
    """Set defaults for later calls: ``backend``, ``model``, ``store``, ``max_tokens``,
    ``temperature`` (a notebook sets ``backend="inprocess"`` once instead of on every cell)."""
    for k, v in defaults.items():
        if k == "sessions" or not hasattr(_STATE, k):
            raise ChatError(f"unknown chat magic option {k!r}", "use backend, model, store, ...")
        setattr(_STATE, k, v)


def sessions() -> dict[str, str]:
    """The process's named sessions: name -> stored session id."""
    return dict(_STATE.sessions)


def reset() -> None:
    """Forget every default and named session (the stored conversations stay)."""
    global _STATE
    _STATE = _Defaults()


def parse(line: str) -> tuple[dict[str, Any], str]:
    """Leading ``--options`` of ``line`` and the rest as the prompt (which may hold quotes)."""
    words = line.split()
    opts: dict[str, Any] = {"session": "default", "new": False}
    i = 0
    while i < len(words) and words[i].startswith("--"):
        flag = words[i]
        if flag == "--new":
            opts["new"], i = True, i + 1
            continue
        if flag not in (*_FLAGS, "--max-tokens") or i + 1 >= len(words):
            raise ChatError(
                f"bad %chat option {flag!r}",
                "use --session NAME, --new, --backend B, --model M, --max-tokens N",
            )
        value = words[i + 1]
        if flag == "--max-tokens":
            if not value.isdigit() or int(value) < 1:
                raise ChatError(f"--max-tokens must be a positive integer, got {value!r}")
            opts["max_tokens"] = int(value)
        else:
            opts[_FLAGS[flag]] = value
        i += 2
    return opts, " ".join(words[i:])


def chat(line: str, cell: str | None = None) -> Reply:
    """One exchange in a named session, streamed to stdout; raises `VegaError` on failure."""
    opts, prompt = parse(line)
    if cell is not None:
        prompt = f"{prompt}\n{cell}".strip() if prompt else cell.strip()
    name = opts["session"]
    conv = Conversation(
        None if opts["new"] else _STATE.sessions.get(name),
        backend=opts.get("backend", _STATE.backend),
        model=opts.get("model", _STATE.model),
        store=_STATE.store,
    )
    reply = conv.ask(
        prompt,
        on_token=lambda piece: print(piece, end="", flush=True),
        max_tokens=opts.get("max_tokens", _STATE.max_tokens),
        temperature=_STATE.temperature,
    )
    print(flush=True)
    _STATE.sessions[name] = reply.session
    return reply


@magics_class
class ChatMagics(Magics):
    """``%chat`` (line) and ``%%chat`` (cell)."""

    @line_cell_magic
    def chat(self, line: str, cell: str | None = None) -> None:
        """Ask a local model; see the module docstring for the options."""
        try:
            chat(line, cell)
        except VegaError as exc:  # one actionable line in the output, no traceback
            print(f"chat failed: {exc}", file=sys.stderr)


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext vega_lab.panels.chat_magic``."""
    ipython.register_magics(ChatMagics)
