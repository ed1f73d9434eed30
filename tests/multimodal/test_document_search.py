"""Semantic search and extractive summaries with the shipped MiniLM (one load per process), and
the PDF benchmark at a tiny size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.multimodal.test_documents import TOPICS, make_docx, topics_pdf
from vega_lab.errors import DocumentError, UnknownNameError
from vega_lab.multimodal.document.embed import TextEmbedder, load_text_embedder
from vega_lab.multimodal.document.search import DocumentSearch
from vega_lab.multimodal.document.summarize import summarize, textrank


@pytest.fixture(scope="module")
def embedder() -> TextEmbedder:
    import torch

    torch.set_num_threads(2)
    return load_text_embedder()


@pytest.fixture(scope="module")
def pdf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return topics_pdf(tmp_path_factory.mktemp("search") / "topics.pdf")


def test_the_shipped_embedder(embedder: TextEmbedder) -> None:
    assert embedder.name == "minilm:all-MiniLM-L6-v2" and embedder.dim == 384
    assert load_text_embedder("sentence-transformers/all-MiniLM-L6-v2") is embedder  # cached
    vectors = embedder.encode(["a cat sits on the mat", "a kitten rests on a rug", "tax law"])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    sims = vectors @ vectors.T
    assert sims[0, 1] > sims[0, 2] + 0.2  # meaning, not words: no word is shared
    assert np.array_equal(embedder.encode(["a cat sits on the mat"])[0], vectors[0])
    assert embedder.encode([]).shape == (0, 384)
    with pytest.raises(UnknownNameError, match="unknown text model 'bert-huge'"):
        load_text_embedder("bert-huge")


def test_search_finds_the_paraphrased_topic_and_its_page(
    embedder: TextEmbedder, pdf: Path, tmp_path: Path
) -> None:
    search = DocumentSearch(embedder)
    with pytest.raises(DocumentError, match="empty"):
        search.search("anything")
    assert search.add(pdf) >= len(TOPICS)
    queries = {
        "How does an eruption of hot liquid rock happen?": (1, "Volcanoes"),
        "why does a loaf get bigger before it is baked": (2, "Baking Bread"),
        "best first moves in a board game": (3, "Chess Openings"),
        "sea animals losing colour as the water heats up": (4, "Coral Reefs"),
    }
    for query, (page, heading) in queries.items():
        hits = search.search(query, k=3)
        assert (hits[0].chunk.page, hits[0].chunk.heading) == (page, heading), query
        assert hits[0].chunk.source == pdf
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        assert hits[0].score > hits[1].score + 0.1
    table_hit = search.search("price and wattage of the solar panels", k=1)[0]
    assert table_hit.chunk.page == 1 and "350" in table_hit.chunk.text
    before = len(search)
    assert search.add(pdf) == before and len(search) == before  # re-adding replaces
    docx_path = make_docx(tmp_path / "report.docx")
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 nope")
    result = search.add_many([docx_path, tmp_path / "broken.pdf"])
    assert [p.name for p, _ in result] == ["report.docx"]
    assert [s.path.name for s in result.skipped] == ["broken.pdf"]
    hit = search.search("acidity of the soil at each site", k=1)[0]
    assert hit.chunk.source == docx_path and hit.chunk.heading == "Soil"
    assert search.remove(docx_path) > 0 and search.sources == [pdf]
    assert search.search("river water", k=50, min_score=0.99) == []
    with pytest.raises(DocumentError, match="query is empty"):
        search.search("  ")


def test_extractive_summary_keeps_the_main_topic(embedder: TextEmbedder, tmp_path: Path) -> None:
    sentences = [
        "Photosynthesis lets green plants turn sunlight into chemical energy.",
        "Chlorophyll in the leaves absorbs the light that drives photosynthesis.",
        "The football match ended in a draw after extra time.",
        "Plants use that energy to build sugars from carbon dioxide and water.",
        "Oxygen is released by the leaves as a by-product of photosynthesis.",
        "Without photosynthesis most life on Earth would run out of food.",
    ]
    (tmp_path / "plants.md").write_text("# Plants\n" + " ".join(sentences))
    summary = summarize(tmp_path / "plants.md", sentences=3, embedder=embedder)
    assert summary.method == "extractive" and len(summary.sentences) == 3
    assert sentences[2] not in summary.sentences and "Plants" not in summary.sentences
    assert summary.positions == sorted(summary.positions)  # the author's order
    assert summary.sentences == [sentences[i] for i in summary.positions]
    from_text = summarize(" ".join(sentences), ratio=0.5, embedder=embedder)
    assert len(from_text.sentences) == 3 and sentences[2] not in from_text.sentences
    with pytest.raises(DocumentError, match="not both"):
        summarize("x y z.", sentences=2, ratio=0.5, embedder=embedder)
    with pytest.raises(UnknownNameError, match="extractive, llm"):
        summarize("x y z.", method="magic")


def test_textrank_ranks_the_well_connected_node_first() -> None:
    v = np.array([[1, 0, 0], [0.9, 0.1, 0], [0.8, 0.2, 0], [0, 0, 1]], dtype=np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    scores = textrank(v)
    assert scores.argmax() == 1 and scores.argmin() == 3
    assert scores.sum() == pytest.approx(1.0)


def test_bench_pdf_small(embedder: TextEmbedder) -> None:
    from vega_lab.benchmarks.multimodal_docs import bench_pdf

    out = bench_pdf(pages=4, repeats=1, table_every=2, embed_chunks=8)
    assert out["tables_found"] == 2 and out["headings_found"] == 4  # pages 1 and 3 hold tables
    for key in ("raw_pages_per_s", "ours_pages_per_s", "ours_tables_pages_per_s"):
        assert out[key] > 0
    assert out["embed_chunks"] == 8 and out["embed_chunks_per_s"] > 0
    assert {"overhead_pct", "tables_overhead_pct", "table_detection_cost_pct"} <= set(out)
