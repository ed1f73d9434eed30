"""Questions over documents with the real embedded chat model (SmolLM2-135M, in-process): the
citations point at the right pages, the prompt quotes the retrieved chunks, the exchange is
logged, and a chat backend that is down surfaces as the chat module's error."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.multimodal.test_documents import TOPICS, topics_pdf
from vega_lab.chat.backends import InProcessBackend, OpenAIHTTPBackend
from vega_lab.chat.session import Conversation
from vega_lab.chat.store import ConversationStore
from vega_lab.errors import BackendUnavailableError, ChatError
from vega_lab.multimodal.document.embed import TextEmbedder, load_text_embedder
from vega_lab.multimodal.document.qa import QA_SYSTEM, answer
from vega_lab.multimodal.document.search import DocumentSearch
from vega_lab.multimodal.document.summarize import summarize

pytestmark = pytest.mark.slow  # loads the chat model (and MiniLM, if no other test did)


@pytest.fixture(scope="module")
def embedder() -> TextEmbedder:
    import torch

    torch.set_num_threads(2)
    return load_text_embedder()


@pytest.fixture(scope="module")
def model() -> InProcessBackend:
    return InProcessBackend(threads=2)


@pytest.fixture(scope="module")
def search(embedder: TextEmbedder, tmp_path_factory: pytest.TempPathFactory) -> DocumentSearch:
    index = DocumentSearch(embedder)
    index.add(topics_pdf(tmp_path_factory.mktemp("qa") / "topics.pdf"))
    return index


def test_answer_cites_the_right_pages(
    search: DocumentSearch, model: InProcessBackend, tmp_path: Path
) -> None:
    store = ConversationStore(tmp_path / "chat.sqlite")
    conv = Conversation(backend=model, store=store, system_prompt=QA_SYSTEM)
    result = answer("What makes bread dough rise?", search, k=2, conversation=conv, max_tokens=24)
    assert result.text.strip()
    assert result.citations[0].page == 2
    assert all(c.source.name == "topics.pdf" for c in result.citations)
    assert len(result.citations) == 2 and result.citations[0].score > result.citations[1].score
    assert f"[topics.pdf p.2] {TOPICS['Baking Bread'].split('.')[0]}" in result.prompt
    for hit in result.hits:
        assert hit.chunk.text in result.prompt
    assert result.prompt.rstrip().endswith("Answer, citing the tags:")
    rows = store.history(result.session)
    assert [r.role for r in rows] == ["user", "assistant"]
    assert rows[0].content == result.prompt and rows[1].content.strip() == result.text


def test_answer_from_documents_directly(model: InProcessBackend, tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_text(
        "# Lab notes\nThe centrifuge in room 12 is broken until May.\n\n"
        "# Lunch\nThe canteen serves soup on Fridays."
    )
    conv = Conversation(backend=model, store=ConversationStore(tmp_path / "c.sqlite"))
    result = answer(
        "Which machine is out of order?", tmp_path / "notes.md", k=1, conversation=conv,
        max_tokens=16,
    )  # fmt: skip
    assert result.text and "centrifuge" in result.prompt and "soup" not in result.prompt
    assert [(c.source.name, c.page) for c in result.citations] == [("notes.md", 1)]
    with pytest.raises(ChatError, match="question is empty"):
        answer(" ", tmp_path / "notes.md", conversation=conv)


def test_a_chat_backend_that_is_down_is_reported(search: DocumentSearch, tmp_path: Path) -> None:
    down = OpenAIHTTPBackend("http://127.0.0.1:9")
    conv = Conversation(backend=down, store=ConversationStore(tmp_path / "c.sqlite"))
    with pytest.raises(BackendUnavailableError, match=r"127\.0\.0\.1:9"):
        answer("How do volcanoes erupt?", search, conversation=conv, max_tokens=8)


def test_llm_summary(model: InProcessBackend, embedder: TextEmbedder, tmp_path: Path) -> None:
    store = ConversationStore(tmp_path / "c.sqlite")
    conv = Conversation(backend=model, store=store)
    text = " ".join(TOPICS.values())
    summary = summarize(text, method="llm", sentences=1, conversation=conv, max_tokens=24)
    assert summary.method == "llm" and summary.text
    (prompt, reply) = store.history(conv.session)
    assert "at most 1 sentences" in prompt.content and TOPICS["Volcanoes"] in prompt.content
    assert reply.content.strip() == summary.text
    short = summarize(
        text, method="llm", conversation=conv, max_input_chars=200, embedder=embedder,
        max_tokens=8,
    )  # fmt: skip  # too long for the budget: the extractive pick goes in instead
    sent = store.history(conv.session)[-2].content
    assert short.text and len(sent) < len(text) and sent.count(".") >= 1
