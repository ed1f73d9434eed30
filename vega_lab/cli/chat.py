"""`vega-lab chat`, `vega-lab history`, `vega-lab chat-server`: thin faces on `vega_lab.chat`."""

from __future__ import annotations

from typing import Annotated

import typer

from vega_lab.cli.common import JsonOpt, emit_json
from vega_lab.errors import VegaError


def chat(
    prompt: Annotated[str | None, typer.Argument(help="What to ask (omit with --repl).")] = None,
    session: Annotated[
        str | None,
        typer.Option(help="Session name or id: continued if it exists, else started."),
    ] = None,
    backend: Annotated[str | None, typer.Option(help="openai | ollama | inprocess.")] = None,
    model: Annotated[str | None, typer.Option(help="Model name or .gguf path.")] = None,
    repl: Annotated[bool, typer.Option("--repl", help="Keep asking until an empty line.")] = False,
    max_tokens: Annotated[int, typer.Option(help="Longest answer, in tokens.")] = 256,
    as_json: JsonOpt = False,
) -> None:
    """Ask the chat model; the answer streams, and the exchange is logged to SQLite."""
    from vega_lab.chat.session import Conversation

    if prompt is None and not repl:
        raise VegaError("no prompt given", 'pass one (vega-lab chat "hello") or use --repl')
    conv = Conversation(backend=backend, model=model, name=session)
    if not repl:
        echo = None if as_json else (lambda piece: typer.echo(piece, nl=False))
        reply = conv.ask(prompt or "", on_token=echo, max_tokens=max_tokens)
        if as_json:
            emit_json(reply.as_dict())
        else:
            typer.echo(f"\n[session {reply.session} · {reply.latency_s:.2f} s]")
        return
    typer.echo("vega-lab chat: an empty line ends the session.")
    replies = []
    while True:
        line = prompt if prompt is not None else typer.prompt("you", default="", show_default=False)
        prompt = None
        if not line.strip():
            break
        reply = conv.ask(
            line, on_token=lambda piece: typer.echo(piece, nl=False), max_tokens=max_tokens
        )
        replies.append(reply.as_dict())
        typer.echo(f"\n[{reply.latency_s:.2f} s]")
    typer.echo(f"session {conv.session}")
    if as_json:
        emit_json({"session": conv.session, "replies": replies})


def history(
    limit: Annotated[int, typer.Option(min=1, help="Newest messages to show.")] = 20,
    search: Annotated[str | None, typer.Option(help="Full-text search (FTS5).")] = None,
    session: Annotated[str | None, typer.Option(help="Only this session (name or id).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """The logged conversation: newest messages, a session, or a full-text search."""
    from vega_lab.chat.session import find_session
    from vega_lab.chat.store import open_conversations

    store = open_conversations()
    if search:
        rows = store.search(search, limit=limit)
    elif session:
        rows = store.history(find_session(store, session) or session)[-limit:]
    else:
        rows = store.recent(limit)
    if as_json:
        emit_json([m.to_dict() for m in rows])
        return
    for m in rows:
        text = m.content if not m.error else f"(failed: {m.error})"
        typer.echo(f"{m.created_at:%Y-%m-%d %H:%M:%S}  {m.session_id}  {m.role:<9} {text[:200]}")


def chat_server(
    model: Annotated[str | None, typer.Option(help="Model name or .gguf path.")] = None,
    stop: Annotated[bool, typer.Option("--stop", help="Stop the running server.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Start (or reuse) the embedded model server on 127.0.0.1 and print its URL."""
    from dataclasses import asdict

    from vega_lab.chat.server import ensure_server, stop_server

    if stop:
        stopped = stop_server()
        typer.echo("stopped" if stopped else "no embedded chat server was running")
        if as_json:
            emit_json({"stopped": stopped})
        return
    info = ensure_server(model)
    typer.echo(f"embedded chat server: {info.url}/v1 (pid {info.pid}, log {info.log_path})")
    typer.echo("API key: in data/ state file; clients in vega_lab find it themselves.")
    if as_json:
        d = asdict(info)
        d.pop("api_key", None)
        emit_json(d)


def register(app: typer.Typer) -> None:
    app.command("chat")(chat)
    app.command("history")(history)
    app.command("chat-server")(chat_server)
