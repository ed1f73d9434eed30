"""Conversations end to end with the real embedded model: memory from the store, streaming,
every exchange logged, and a backend that is down still leaves the prompt in the store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vega_lab.chat.backends import InProcessBackend, OpenAIHTTPBackend
from vega_lab.chat.session import Conversation
from vega_lab.chat.store import ConversationStore
from vega_lab.errors import BackendUnavailableError, ChatError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model() -> InProcessBackend:
    return InProcessBackend(threads=2)


def test_a_conversation_is_logged_with_memory(model: InProcessBackend, tmp_path: Path) -> None:
    store = ConversationStore(tmp_path / "c.sqlite")
    conv = Conversation(backend=model, store=store)
    first = conv.ask("What is the capital of France? Answer in one sentence.", temperature=0.0)
    assert "Paris" in first.response
    assert first.session == conv.session and first.latency_s > 0
    second_messages = conv._messages("And of Italy?")
    assert [m["role"] for m in second_messages] == ["system", "user", "assistant", "user"]
    assert second_messages[2]["content"] == first.response
    pieces: list[str] = []
    second = conv.ask("And of Italy?", on_token=pieces.append, temperature=0.0)
    assert len(pieces) > 1 and "".join(pieces) == second.response
    assert second.ttft_s is not None and second.ttft_s <= second.latency_s
    rows = store.history(conv.session)
    assert [r.role for r in rows] == ["user", "assistant", "user", "assistant"]
    assert rows[1].content == first.response and rows[1].backend == "inprocess"
    assert rows[3].content == second.response


def test_a_named_session_starts_then_continues(model: InProcessBackend, tmp_path: Path) -> None:
    """``name=``: the first prompt starts a session under that name, later conversations with
    the same name (or the session's id) continue it; another name is another session."""
    store = ConversationStore(tmp_path / "c.sqlite")
    fresh = Conversation(backend=model, store=store, name="papers")
    assert fresh.session is None and store.sessions() == []  # nothing until the first prompt
    first = fresh.ask("Name a colour.", max_tokens=8)
    again = Conversation(backend=model, store=store, name="papers")
    assert again.session == first.session
    again.ask("Another one.", max_tokens=8)
    assert Conversation(backend=model, store=store, name=first.session).session == first.session
    other = Conversation(backend=model, store=store, name="other").ask("Hi.", max_tokens=8)
    assert other.session != first.session
    [papers] = [s for s in store.sessions() if s.id == first.session]
    assert papers.title == "papers" and papers.metadata == {"name": "papers"}
    assert [m.role for m in store.history(first.session)] == ["user", "assistant"] * 2
    with pytest.raises(ChatError, match="session name is empty"):
        Conversation(backend=model, store=store, name=" ")


def test_a_backend_that_is_down_keeps_the_prompt(tmp_path: Path) -> None:
    store = ConversationStore(tmp_path / "c.sqlite")
    down = OpenAIHTTPBackend("http://127.0.0.1:9")
    conv = Conversation(backend=down, store=store)
    with pytest.raises(BackendUnavailableError, match=r"127\.0\.0\.1:9"):
        conv.ask("is anyone there?")
    rows = store.history(conv.session)
    assert [r.role for r in rows] == ["user", "assistant"]
    assert rows[0].content == "is anyone there?"
    assert rows[1].error and "BackendUnavailableError" in rows[1].error


def test_an_empty_prompt_is_refused_and_nothing_is_written(
    model: InProcessBackend, tmp_path: Path
) -> None:
    store = ConversationStore(tmp_path / "c.sqlite")
    with pytest.raises(ChatError, match="empty"):
        Conversation(backend=model, store=store).ask("   ")
    assert store.stats()["messages"] == 0


def test_cli_chat_and_history(workspace: Path) -> None:
    from tests.test_cli import cli
    from vega_lab.chat.server import stop_server

    try:
        res = cli("chat", "What is the capital of France?", "--json")
        assert res.returncode == 0, res.stderr
        out = json.loads(res.stdout)
        assert {"response", "session", "model", "latency_s"} <= set(out)
        assert out["response"].strip()
        again = cli("chat", "Thanks!", "--session", out["session"], "--json")
        assert again.returncode == 0, again.stderr
        assert json.loads(again.stdout)["session"] == out["session"]
        hist = cli("history", "--search", "France", "--json")
        assert hist.returncode == 0, hist.stderr
        found = json.loads(hist.stdout)
        assert any(m["session_id"] == out["session"] for m in found)
        empty = cli("chat", "")
        assert empty.returncode == 2 and "empty" in empty.stderr
    finally:
        stop_server()


def test_cli_chat_session_name_starts_then_continues(workspace: Path) -> None:
    """`vega-lab chat --session NAME` starts NAME when it does not exist (as ``%%chat`` does)
    and continues it when it does; history takes the name too."""
    from tests.test_cli import cli

    opts = ("--session", "papers", "--backend", "inprocess", "--max-tokens", "8", "--json")
    first = cli("chat", "What is the capital of France?", *opts)
    assert first.returncode == 0, first.stderr
    again = cli("chat", "And of Italy?", *opts)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["session"] == json.loads(first.stdout)["session"]
    hist = cli("history", "--session", "papers", "--json")
    messages = json.loads(hist.stdout)
    assert [m["role"] for m in messages] == ["user", "assistant"] * 2
    assert messages[2]["content"] == "And of Italy?"


def test_bench_chat_prints_the_figures(workspace: Path) -> None:
    from tests.test_cli import cli
    from vega_lab.chat.server import stop_server

    try:
        res = cli("bench", "chat", "--rounds", "1", "--max-tokens", "16", "--messages", "20")
        assert res.returncode == 0, res.stderr
        out = json.loads(res.stdout)
        keys = {"vega_tok_s", "direct_tok_s", "overhead", "ttft_s"}
        assert keys | {"store_msgs_per_s_1proc", "store_msgs_per_s_4proc"} <= set(out)
        assert out["direct_tok_s"] > 0 and out["vega_tok_s"] > 0 and out["ttft_s"] > 0
    finally:
        stop_server()
