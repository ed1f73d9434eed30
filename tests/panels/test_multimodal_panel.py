"""MultimodalPanel over the generated demo folder, with the real tiny models: every tab, the
EXIF scrub, cited Q&A, the index and its gallery, and bad files in the status line."""

from __future__ import annotations

from pathlib import Path

import pytest

from vega_lab.errors import ImageError, MultimodalError
from vega_lab.multimodal.demo import make_demo_folder
from vega_lab.multimodal.image.exif import read_exif
from vega_lab.panels import MultimodalPanel

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, list[Path]]]:
    folder = tmp_path_factory.mktemp("media")
    return folder, make_demo_folder(folder, n_images=8, seed=1)


@pytest.fixture
def panel(media, workspace: Path) -> MultimodalPanel:
    from vega_lab.chat.session import Conversation

    folder, _ = media
    return MultimodalPanel(
        folder, workspace / "index", conversation=Conversation(backend="inprocess"), max_tokens=24
    )


def test_picker_lists_the_folder_and_an_image_shows_detections_exif_and_scrub(
    panel: MultimodalPanel, media
) -> None:
    _, files = media
    names = [label for label, _ in panel.picker.options]
    assert "images/phone_photo.jpg" in names and "docs/privacy_notes.pdf" in names

    photo = files["image"][-1]
    panel.picker.value = str(photo)  # what a user's pick does
    assert panel.error is None, panel.status.value
    assert panel.tabs.selected_index == 0 and panel.image_view.value[:4] == b"\x89PNG"
    assert "PhoneMaker" in panel.exif_view.value and not panel.scrub_button.disabled
    assert len(panel.last["detections"]) >= 1  # two rendered shapes in that scene

    panel.scrub_button.click()
    assert panel.error is None, panel.status.value
    clean = photo.with_name("phone_photo.scrubbed.jpg")
    assert clean.is_file() and "Make" not in read_exif(clean) and "latitude" not in read_exif(clean)
    assert "Make" in read_exif(photo)  # the original is untouched
    assert "removed" in panel.exif_view.value
    clean.unlink()


def test_audio_video_and_document_tabs(panel: MultimodalPanel, media) -> None:
    _, files = media
    assert panel.show_file(files["audio"][0]) == "audio"
    assert "federated" in panel.last["transcript"].text.lower()
    assert "<svg" in panel.audio_chart.value and "transcript" in panel.transcript.value

    assert panel.show_file(files["video"][0]) == "video"
    assert len(panel.last["scenes"]) == 3 and panel.video_view.value[:4] == b"\x89PNG"

    assert panel.show_file(files["document"][0]) == "document"
    assert "Differential privacy" in panel.doc_text.value
    assert "epsilon" in panel.doc_tables.value and "0.81" in panel.doc_tables.value
    assert not panel.ask_button.disabled
    panel.question.value = "What does DP-SGD add to the clipped gradients?"
    panel.ask_button.click()
    assert panel.error is None, panel.status.value
    assert "privacy_notes.pdf p.2" in panel.answer_view.value  # the cited page


def test_index_then_search_fills_the_gallery_and_skips_the_broken_file(
    panel: MultimodalPanel,
) -> None:
    result = panel.index_folder()
    assert result is not None and len(result) >= 10
    assert any(s.path.name == "broken.png" for s in result.skipped)
    assert "broken.png" in panel.results.value
    panel.query.value = "a photo of a red circle"
    panel.modality.value = "image"
    panel.search_button.click()
    assert panel.error is None, panel.status.value
    assert panel.tabs.selected_index == 4
    assert panel.gallery.value.count("<img") >= 3
    hits = panel.search("differential privacy noise", modality="document")
    assert hits and Path(hits[0].source).name == "privacy_notes.pdf"

    image = next(p for p in map(Path, hits_sources(panel)) if p.suffix == ".png")
    panel.show_file(image)
    assert not panel.similar_button.disabled
    panel.similar_button.click()
    assert panel.error is None, panel.status.value
    assert panel.tabs.selected_index == 4 and f"images like {image.name}" in panel.status.value
    assert image.name in panel.results.value.split("</li>")[0]  # itself first, cosine ~1


def hits_sources(panel: MultimodalPanel) -> list[str]:
    return [h.source for h in panel.index.search_text("a photo", k=5, modality="image")]


def test_bad_files_land_in_the_status_line(panel: MultimodalPanel, media, tmp_path: Path) -> None:
    folder, _ = media
    assert panel.show_file(folder / "images" / "broken.png") is None
    assert isinstance(panel.error, ImageError) and "broken.png" in panel.status.value
    odd = tmp_path / "notes.xyz"
    odd.write_text("?")
    assert panel.show_file(odd) is None and isinstance(panel.error, MultimodalError)
    assert panel.ask("anything") is None and "no document is open" in panel.status.value
