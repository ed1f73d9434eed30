"""Videos in the cross-modal index, with the real tiny CLIP, MiniLM, Whisper and ffmpeg.

Clips are rendered by ``synth`` with known cuts: one of solid colours and noise over a tone (no
speech), one with espeak-ng speech muxed in, a silent one with six scenes; a corrupt .mp4 sits
in the same folder. The folder is indexed once (module fixture); tests that change files build
their own small index with the same loaded embedders.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from vega_lab.errors import IndexStoreError, VideoError
from vega_lab.multimodal.image.shapes import write_scenes
from vega_lab.multimodal.index import CrossModalIndex
from vega_lab.multimodal.synth import COLORS, cut_times, render_video, speak

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (shutil.which("ffmpeg") and shutil.which("espeak-ng")),
        reason="needs ffmpeg and espeak-ng",
    ),
]

SCENES = [("red", 1.0), ("noise", 1.0), ("blue", 1.0)]
SIX = [(c, 1.0) for c in ("red", "blue", "green", "yellow", "black", "white")]
SPEECH = "The volcano erupted and lava flowed down into the valley."


def boundaries(scenes: list[tuple[str, float]]) -> list[tuple[float, float]]:
    cuts = cut_times(scenes)
    total = sum(s for _, s in scenes)
    return list(zip([0.0, *cuts], [*cuts, total], strict=True))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root, work = tmp_path_factory.mktemp("videos"), tmp_path_factory.mktemp("render")
    render_video(root / "scenes.mp4", SCENES, audio_hz=440)
    render_video(work / "base.mp4", [("green", 2.0), ("yellow", 2.0)], audio_hz=None)
    speak(SPEECH, work / "speech.wav")
    mux = ["ffmpeg", "-y", "-v", "error", "-i", str(work / "base.mp4"), "-i"]
    mux += [str(work / "speech.wav"), "-c:v", "copy", "-c:a", "aac", "-shortest"]
    subprocess.run([*mux, str(root / "talk.mp4")], check=True)
    write_scenes(root / "images", 1, seed=1, pairs=[("green", "square")])
    (root / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 200)
    return root


@pytest.fixture(scope="module")
def indexed(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple:
    import torch

    torch.set_num_threads(2)
    idx = CrossModalIndex(tmp_path_factory.mktemp("idx") / "index")
    return idx, idx.add_folder(corpus)


def same_models(index: CrossModalIndex, path: Path) -> CrossModalIndex:
    return CrossModalIndex(path, clip=index.embedder("clip"), text_embedder=index.embedder("text"))


def scenes_of(index: CrossModalIndex, name: str) -> list:
    return sorted(
        (i for i in index.items("video") if Path(i.source).name == name),
        key=lambda i: i.locator["start"],
    )


def test_a_folder_with_videos_is_indexed_scene_by_scene(indexed: tuple) -> None:
    idx, result = indexed
    assert [s.path.name for s in result.skipped] == ["broken.mp4"]
    assert "corrupt" in result.skipped[0].error  # the VideoError's message, with its hint
    status = {p.name: (r.modality, r.status, r.item_ids) for p, r in result}
    assert set(status) == {"scenes.mp4", "talk.mp4", "0000_green_square.png"}
    scenes = scenes_of(idx, "scenes.mp4")
    assert status["scenes.mp4"] == ("video", "added", tuple(i.id for i in scenes))
    assert len(scenes) == 3 and all(i.space == "clip" for i in scenes)
    for item, (start, end) in zip(scenes, boundaries(SCENES), strict=True):
        assert item.locator["start"] == pytest.approx(start, abs=0.2)
        assert item.locator["end"] == pytest.approx(end, abs=0.2)
        assert start * 10 <= item.locator["frame"] < end * 10  # the frame is inside its scene
        with Image.open(item.thumbnail) as thumb:
            assert max(thumb.size) <= 256
    # the tone is no speech: no transcript passage, and Whisper's "beep beep ..." never indexed
    assert not [i for i in idx.items("transcript") if Path(i.source).name == "scenes.mp4"]
    hit = idx.search_text("a photo of a blue shape", k=10, modality="video")
    middle = next(h for h in hit if h.item.id == scenes[1].id)
    assert middle.where == "scenes.mp4 0:01-0:02"


def test_text_query_for_video_returns_scenes(indexed: tuple) -> None:
    idx, _ = indexed
    hits = idx.search_text("a photo of a red shape", k=10, modality="video")
    assert len(hits) == 5 and {h.modality for h in hits} == {"video"}  # 3 + 2 scenes
    assert Path(hits[0].source).name == "scenes.mp4" and hits[0].locator["start"] < 0.2
    everything = idx.search_text("a photo of a red shape", k=20)
    assert {"video", "image", "transcript"} <= {h.modality for h in everything}


def test_a_still_finds_the_scene_it_shows(indexed: tuple) -> None:
    idx, _ = indexed
    red = Image.new("RGB", (160, 120), COLORS["red"])
    top = idx.search_image(red, k=3)[0]
    assert top.modality == "video" and top.where == "scenes.mp4 0:00-0:01"
    assert top.score > 0.9  # the same picture, through H.264
    assert {h.modality for h in idx.search_image(red, k=10, modality="image")} == {"image"}
    with pytest.raises(IndexStoreError, match="not document"):
        idx.search_image(red, modality="document")
    like = idx.search_example(top.item.id, k=10, modality="video")
    assert len(like) == 4 and top.item.id not in [h.item.id for h in like]


def test_spoken_words_in_a_video_are_searchable(indexed: tuple) -> None:
    idx, _ = indexed
    hit = idx.search_text("lava pouring out of a volcano", k=1, modality="transcript")[0]
    assert Path(hit.source).name == "talk.mp4" and hit.space == "text"
    assert "volcano" in hit.snippet.lower()
    assert 0 <= hit.locator["start"] < hit.locator["end"] <= 4.0
    assert hit.where.startswith("talk.mp4 0:00-0:0")
    talk = scenes_of(idx, "talk.mp4")
    assert [i.metadata["speech"] for i in talk] == [True, True]
    assert set(i.id for i in talk) | {hit.item.id} == set(idx.add(hit.source).item_ids)


def test_readd_replace_and_remove_a_video(indexed: tuple, corpus: Path, tmp_path: Path) -> None:
    folder = tmp_path / "media"
    folder.mkdir()
    for name in ("scenes.mp4", "talk.mp4"):
        shutil.copy(corpus / name, folder / name)
    idx = same_models(indexed[0], tmp_path / "idx")
    first = {p.name: r for p, r in idx.add_folder(folder)}
    versions = {n: s.version for n, s in idx.store.spaces().items()}
    again = {p.name: r for p, r in idx.add_folder(folder)}
    assert {r.status for r in again.values()} == {"unchanged"}
    assert {n: r.item_ids for n, r in again.items()} == {n: r.item_ids for n, r in first.items()}
    assert {n: s.version for n, s in idx.store.spaces().items()} == versions
    old_thumbs = {idx.get(i).thumbnail for i in first["scenes.mp4"].item_ids}
    four = [("green", 1.0), ("red", 1.0), ("white", 1.0), ("blue", 1.0)]
    render_video(folder / "scenes.mp4", four, audio_hz=None)  # same path, new content
    res = idx.add(folder / "scenes.mp4")
    assert res.status == "replaced" and len(res.item_ids) == 4
    assert set(res.item_ids).isdisjoint(first["scenes.mp4"].item_ids)
    assert not any(Path(t).exists() for t in old_thumbs)
    assert [i.locator["start"] for i in scenes_of(idx, "scenes.mp4")] == pytest.approx(
        [a for a, _ in boundaries(four)], abs=0.2
    )
    talk_thumbs = [idx.get(i).thumbnail for i in first["talk.mp4"].item_ids[:2]]
    assert idx.remove(folder / "talk.mp4") == 3  # 2 scenes + 1 passage
    assert not any(Path(t).exists() for t in talk_thumbs)
    assert idx.counts() == {("clip", "video"): 4}
    assert idx.store.spaces()["text"].count == 0 and len(list(idx.store.thumbs.iterdir())) == 4
    with pytest.raises(IndexStoreError):
        idx.get(first["talk.mp4"].item_ids[-1])


def test_scene_cap_keeps_evenly_spread_scenes(indexed: tuple, tmp_path: Path) -> None:
    video = render_video(tmp_path / "six.mp4", SIX, audio_hz=None)  # no audio track at all
    idx = same_models(indexed[0], tmp_path / "idx")
    cuts = boundaries(SIX)

    def thumbs() -> int:
        return len(list(idx.store.thumbs.glob("*.jpg")))

    three = idx.add_video(video, max_scenes=3)
    assert three.modality == "video" and len(three.item_ids) == 3
    kept = [idx.get(i) for i in three.item_ids]
    assert [i.metadata["scene"] for i in kept] == [1, 3, 5]  # of six: the evenly spread ones
    assert [i.locator["start"] for i in kept] == pytest.approx([cuts[j][0] for j in (1, 3, 5)])
    assert {i.metadata["scenes"] for i in kept} == {6} and thumbs() == 3
    assert idx.add_video(video, max_scenes=3).status == "unchanged"
    every = idx.add_video(video, max_scenes=6)  # other options: re-indexed, not a no-op
    assert every.status == "replaced" and len(every.item_ids) == 6 and thumbs() == 6
    two = idx.add_video(video, max_scenes=2)
    assert len(two.item_ids) == 2 and thumbs() == 2  # the other frames' thumbnails are gone
    assert idx.counts() == {("clip", "video"): 2}
    with pytest.raises(VideoError, match="max_scenes must be >= 1"):
        idx.add_video(video, max_scenes=0)
    assert len(idx) == 2  # a refused add changes nothing


def test_a_video_is_never_half_indexed(indexed: tuple, corpus: Path, tmp_path: Path) -> None:
    from vega_lab.errors import MultimodalError

    minilm = indexed[0].embedder("text")

    class Refusing:
        """The real MiniLM, except that it refuses any text about volcanoes."""

        name, dim = "minilm-refusing-volcanoes", minilm.dim

        def encode(self, texts: list[str]):
            if any("volcano" in t.lower() for t in texts):
                raise MultimodalError("volcanoes are not supported", "talk about something else")
            return minilm.encode(texts)

    folder = tmp_path / "media"
    folder.mkdir()
    for name in ("scenes.mp4", "talk.mp4"):
        shutil.copy(corpus / name, folder / name)
    idx = CrossModalIndex(
        tmp_path / "idx", clip=indexed[0].embedder("clip"), text_embedder=Refusing()
    )
    result = idx.add_folder(folder)
    assert [p.name for p, _ in result] == ["scenes.mp4"]
    assert [(s.path.name, "volcanoes" in s.error) for s in result.skipped] == [("talk.mp4", True)]
    assert {Path(i.source).name for i in idx.items()} == {"scenes.mp4"}  # no orphan scenes
    assert str(folder / "talk.mp4") not in idx


def test_an_audio_file_without_speech_is_skipped_not_hallucinated(
    indexed: tuple, tmp_path: Path
) -> None:
    from vega_lab.multimodal.synth import tone

    idx, _ = indexed
    folder = tmp_path / "sounds"
    folder.mkdir()
    tone(folder / "beep.wav", 3.0, 440)
    speak(SPEECH, folder / "said.wav")
    result = same_models(idx, tmp_path / "audio-index").add_folder(folder)
    assert [p.name for p, _ in result.items] == ["said.wav"]
    assert [s.path.name for s in result.skipped] == ["beep.wav"]
    assert "no speech detected" in result.skipped[0].error
