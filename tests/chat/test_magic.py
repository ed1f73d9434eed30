"""``%chat`` / ``%%chat`` in a real IPython shell with the in-process model: streaming to the
output, memory per named session, every exchange in the store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell

from vega_lab.chat.backends import InProcessBackend
from vega_lab.chat.store import ConversationStore
from vega_lab.panels import chat_magic

pytestmark = pytest.mark.slow


@pytest.fixture
def shell(tmp_path: Path) -> Iterator[tuple[InteractiveShell, ConversationStore]]:
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "vega_lab.panels.chat_magic")
    store = ConversationStore(tmp_path / "c.sqlite")
    chat_magic.configure(backend=InProcessBackend(threads=2), store=store, max_tokens=32)
    chat_magic.configure(temperature=0.0)
    yield ip, store
    chat_magic.reset()


def test_cell_and_line_magics_keep_memory_per_session(
    shell: tuple[InteractiveShell, ConversationStore], capsys: pytest.CaptureFixture[str]
) -> None:
    ip, store = shell
    out = ip.run_cell_magic("chat", "--session geo", "What is the capital of France?")
    assert out is None  # nothing noisy as the cell's value
    printed = capsys.readouterr().out
    assert "Paris" in printed
    geo = chat_magic.sessions()["geo"]

    ip.run_line_magic("chat", "--session geo And what's the capital of Italy?")
    assert chat_magic.sessions()["geo"] == geo  # same stored session: memory
    rows = store.history(geo)
    assert [r.role for r in rows] == ["user", "assistant", "user", "assistant"]
    assert rows[0].content == "What is the capital of France?"
    assert rows[2].content == "And what's the capital of Italy?"  # quotes survive
    assert rows[3].content.strip() in capsys.readouterr().out

    ip.run_line_magic("chat", "Hello!")  # the "default" session is another conversation
    assert chat_magic.sessions()["default"] != geo
    ip.run_line_magic("chat", "--session geo --new Hi again")
    assert chat_magic.sessions()["geo"] != geo and len(store.history(geo)) == 4
    assert store.stats()["sessions"] == 3


def test_bad_input_prints_one_line(
    shell: tuple[InteractiveShell, ConversationStore], capsys: pytest.CaptureFixture[str]
) -> None:
    ip, store = shell
    ip.run_line_magic("chat", "--bogus x hi")
    ip.run_line_magic("chat", "--max-tokens lots hi")
    ip.run_line_magic("chat", "")
    ip.run_line_magic("chat", "--backend nope hi")
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 4 and all(line.startswith("chat failed: ") for line in err)
    assert "bad %chat option '--bogus'" in err[0] and "--max-tokens" in err[1]
    assert "empty" in err[2] and "unknown chat backend 'nope'" in err[3]
    assert "Traceback" not in "".join(err) and store.stats()["messages"] == 0


def test_parse_keeps_the_prompt_verbatim_after_options() -> None:
    opts, prompt = chat_magic.parse("--session a --new --max-tokens 9 it's 2 + 2?")
    assert opts == {"session": "a", "new": True, "max_tokens": 9} and prompt == "it's 2 + 2?"
