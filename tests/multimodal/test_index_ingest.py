"""The cross-modal index end to end with the real models: tiny shapes CLIP, MiniLM, Whisper.

One folder holds rendered shapes, a PDF generated with PyMuPDF, a text file, an espeak-ng
recording and a corrupt file; it is indexed once (module fixture) and searched every way.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from vega_lab.multimodal.image.shapes import write_scenes
from vega_lab.multimodal.index import CrossModalIndex

pytestmark = pytest.mark.slow

PAGES = [
    "Sourdough baking. Mix flour, water and salt, then let the dough rise overnight before "
    "baking the loaf in a very hot oven.",
    "Photosynthesis. Green plants capture sunlight with chlorophyll in their leaves and turn "
    "carbon dioxide and water into sugar, releasing oxygen.",
    "Volcanoes. Magma rises through the crust and erupts as lava, ash and volcanic gases.",
]
SPEECH = "The quarterly budget meeting approved more money for marketing next year."


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import pymupdf

    root = tmp_path_factory.mktemp("corpus")
    write_scenes(root / "red", 3, seed=1, pairs=[("red", "circle")])
    others = [("green", "square"), ("blue", "star"), ("yellow", "triangle")]
    write_scenes(root / "other", 9, seed=2, pairs=others)
    pdf = pymupdf.open()
    for text in PAGES:
        pdf.new_page().insert_textbox(pymupdf.Rect(72, 72, 520, 700), text, fontsize=12)
    pdf.save(root / "science.pdf")
    (root / "notes.txt").write_text("Shopping list: apples, cheese and coffee beans.\n")
    (root / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    if shutil.which("espeak-ng"):
        subprocess.run(["espeak-ng", "-w", str(root / "meeting.wav"), SPEECH], check=True)
    return root


@pytest.fixture(scope="module")
def index(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> CrossModalIndex:
    import torch

    torch.set_num_threads(2)
    idx = CrossModalIndex(tmp_path_factory.mktemp("idx") / "index")
    result = idx.add_folder(corpus)
    assert [s.path.name for s in result.skipped] == ["broken.png"], result.summary()
    return idx


def test_text_query_finds_the_red_circles(index: CrossModalIndex) -> None:
    hits = index.search_text("a photo of a red circle", k=5, modality="image")
    assert [Path(h.source).parent.name for h in hits[:3]] == ["red"] * 3
    assert all(h.modality == "image" for h in hits)


def test_text_query_finds_the_document_page(index: CrossModalIndex) -> None:
    hits = index.search_text("how do plants turn sunlight into sugar?", k=3, modality="document")
    top = hits[0]
    assert Path(top.source).name == "science.pdf" and top.locator["page"] == 2
    assert "chlorophyll" in top.snippet and top.where == "science.pdf p. 2"


def test_spoken_words_are_searchable(index: CrossModalIndex) -> None:
    if not shutil.which("espeak-ng"):
        pytest.skip("espeak-ng is not installed")
    hit = index.search_text("budget for marketing", k=1, modality="transcript")[0]
    assert Path(hit.source).name == "meeting.wav"
    assert "budget" in hit.snippet.lower() and 0 <= hit.locator["start"] < hit.locator["end"]


def test_unfiltered_query_fuses_both_spaces(index: CrossModalIndex) -> None:
    hits = index.search_text("red circle volcano", k=6)
    assert {"image", "document"} <= {h.modality for h in hits}
    assert {h.rank for h in hits[:2]} == {1}  # the best of each space lead


def test_search_by_example_and_by_image(index: CrossModalIndex, corpus: Path) -> None:
    red = next(i for i in index.items("image") if Path(i.source).parent.name == "red")
    hits = index.search_example(red.id, k=2)
    assert red.id not in [h.item.id for h in hits]
    assert [Path(h.source).parent.name for h in hits] == ["red", "red"]
    by_image = index.search_image(corpus / "red" / "0000_red_circle.png", k=3)
    assert by_image[0].source == str(corpus / "red" / "0000_red_circle.png")
    chunk = index.search_text("volcanic eruptions and lava", k=1, modality="document")[0]
    similar = index.search_example(chunk.item.id, k=3, modality="document")
    assert chunk.item.id not in [h.item.id for h in similar]


def test_reopened_index_loads_no_model_until_needed(index: CrossModalIndex) -> None:
    again = CrossModalIndex(index.path)
    stats = again.stats()
    assert stats["by_modality"]["image"] == 12 and stats["by_modality"]["document"] >= 4
    assert stats["spaces"]["text"]["embedder"] == "minilm:all-MiniLM-L6-v2"
    assert again._embedders == {}
    hits = again.search_text("coffee beans", k=1, modality="document")
    assert Path(hits[0].source).name == "notes.txt" and "clip" not in again._embedders
