"""ChatPanel with the real in-process model: streaming, logging, feedback, Stop, sessions,
search, and errors in the status line."""

from __future__ import annotations

from pathlib import Path

import pytest

from vega_lab.chat.backends import InProcessBackend
from vega_lab.chat.store import ConversationStore
from vega_lab.errors import ChatError
from vega_lab.panels import ChatPanel

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model() -> InProcessBackend:
    return InProcessBackend(threads=2)


@pytest.fixture
def store(tmp_path: Path) -> ConversationStore:
    return ConversationStore(tmp_path / "c.sqlite")


def test_an_answer_streams_in_is_logged_and_can_be_rated(
    model: InProcessBackend, store: ConversationStore
) -> None:
    panel = ChatPanel(backend=model, store=store, max_tokens=48, temperature=0.0)
    assert panel.backend.value == "inprocess" and panel.session.value == ""
    assert panel.thumbs_up.disabled
    seen: list[str] = []
    panel.transcript.observe(lambda ch: seen.append(ch["new"]), "value")
    panel.prompt.value = "What is the capital of France?"
    panel.run_button.click()  # a user's click: returns at once
    assert panel.wait(timeout=120)

    assert panel.error is None, panel.status.value
    reply = panel.reply
    assert reply is not None and "Paris" in reply.response
    assert len(seen) > 3  # one redraw per piece, not one at the end
    assert "Paris" not in seen[1] and "Paris" in seen[-1]
    assert panel.transcript_text().endswith(f"assistant: {reply.response}")
    assert "answered in" in panel.status.value and panel.prompt.value == ""
    assert panel.progress.value > 3 and panel.stop_button.disabled

    rows = store.history(reply.session)
    assert [r.role for r in rows] == ["user", "assistant"]
    assert rows[1].content == reply.response and rows[1].backend == "inprocess"
    # The picker now lists and selects the new session, titled by the prompt.
    assert panel.session.value == reply.session
    assert any("capital of France" in label for label, _ in panel.session.options)

    panel.thumbs_up.click()
    assert store.history(reply.session)[-1].rating == 1 and "feedback saved" in panel.status.value
    panel.thumbs_down.click()  # a change of mind replaces it
    assert store.history(reply.session)[-1].rating == -1

    hits = panel.search("France")
    assert any(h.session_id == reply.session for h in hits)
    assert "capital of France" in panel.results.value and "match" in panel.results.value

    # A second question continues the selected session (memory from the store).
    panel.prompt.value = "And of Italy?"
    panel.run(block=True)
    assert panel.error is None and panel.reply.session == reply.session
    assert len(store.history(reply.session)) == 4

    # Picking "new session" clears the transcript; picking the old one loads its history.
    panel.session.value = ""
    assert panel.transcript_text() == ""
    panel.session.value = reply.session
    assert panel.transcript_text().startswith("user: What is the capital of France?")


def test_stop_ends_the_answer_early_and_keeps_it(
    model: InProcessBackend, store: ConversationStore
) -> None:
    panel = ChatPanel(backend=model, store=store, max_tokens=200)
    pieces = 0

    def count(_: dict) -> None:
        nonlocal pieces
        pieces += 1
        if pieces == 3:
            panel.stop_button.click()

    panel.progress.observe(count, "value")
    panel.prompt.value = "Write a long story about a dragon."
    panel.run(block=True)
    assert panel.error is None, panel.status.value
    assert panel.reply is not None and "stopped in" in panel.status.value
    assert panel.progress.value <= 4
    assert store.history(panel.reply.session)[-1].content == panel.reply.response


def test_errors_land_in_the_status_line(model: InProcessBackend, store: ConversationStore) -> None:
    panel = ChatPanel(backend=model, store=store)
    panel.prompt.value = "   "
    panel.run_button.click()
    assert isinstance(panel.error, ChatError) and not panel.running
    assert "the prompt is empty" in panel.status.value and "Traceback" not in panel.status.value
    assert store.stats()["messages"] == 0

    panel.search('"unclosed')  # a malformed FTS5 query: a ConversationStoreError, not a crash
    assert panel.search_hits == [] and "Traceback" not in panel.status.value

    panel.thumbs_up.click()  # nothing to rate yet
    assert "no answer to rate" in panel.status.value
