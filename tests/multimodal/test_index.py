"""The cross-modal index's storage and search layers, with small real embedders built here.

The embedders below are genuine (if simple) models with the CLIP / text-embedder interfaces:
a colour-histogram image embedder whose text tower maps colour words to their colour, and a
hashed bag-of-words text embedder. They make the store/search behaviour testable in
milliseconds; test_index_ingest.py runs the real CLIP, MiniLM and Whisper end to end.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import wave
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vega_lab.errors import IndexStoreError, UnknownNameError
from vega_lab.multimodal.audio.transcribe import Segment, Transcript
from vega_lab.multimodal.image.shapes import COLORS, write_scenes
from vega_lab.multimodal.index import (
    BACKENDS,
    CrossModalIndex,
    ExactBackend,
    Hit,
    Item,
    fuse,
    make_backend,
)
from vega_lab.multimodal.index.hnsw import HnswBackend

BINS = 4  # per channel: a 64-d joint colour histogram


def _bin(rgb: np.ndarray) -> np.ndarray:
    q = np.clip(np.asarray(rgb, dtype=np.int64) * BINS // 256, 0, BINS - 1)
    return q[..., 0] * BINS * BINS + q[..., 1] * BINS + q[..., 2]


class ColourEmbedder:
    """Images -> normalised colour histogram (background bins dropped: grey-ish pixels);
    texts -> the histogram bin of each colour word they name."""

    dim = BINS**3

    def __init__(self, name: str = "test-colour-hist-64") -> None:
        self.name = name

    def encode_images(self, images: Sequence[Image.Image | Path]) -> np.ndarray:
        out = np.zeros((len(images), self.dim), np.float32)
        for i, im in enumerate(images):
            img = Image.open(im) if isinstance(im, (str, Path)) else im
            px = np.asarray(img.convert("RGB").resize((32, 32)), dtype=np.int64).reshape(-1, 3)
            vivid = px[(px.max(axis=1) - px.min(axis=1)) > 60]  # the shape, not the grey noise
            np.add.at(out[i], _bin(vivid), 1.0)
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, t in enumerate(texts):
            for word in re.findall(r"[a-z]+", t.lower()):
                if word in COLORS:
                    out[i, _bin(np.array(COLORS[word]))] += 1.0
        out[:, 0] += 1e-3  # a query naming no colour is still a valid vector
        return out / np.linalg.norm(out, axis=1, keepdims=True)


class HashedBowEmbedder:
    """Texts -> hashed bag of words (stable md5 buckets), L2-normalised."""

    def __init__(self, dim: int = 256, name: str = "test-hashed-bow") -> None:
        self.dim, self.name = dim, f"{name}-{dim}"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, t in enumerate(texts):
            for word in re.findall(r"[a-z]+", t.lower()):
                out[i, int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dim] += 1.0
        out[:, 0] += 1e-3
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def write_wav(path: Path, seconds: float = 0.5, freq: float = 440.0) -> Path:
    t = np.arange(int(16000 * seconds)) / 16000
    pcm = (0.3 * np.sin(2 * np.pi * freq * t) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(pcm.tobytes())
    return path


def transcript(*passages: tuple[float, float, str]) -> Transcript:
    segs = [Segment(a, b, text) for a, b, text in passages]
    end = passages[-1][1]
    return Transcript(" ".join(p[2] for p in passages), segs, "en", end, "given", "none", 0.0, 0.0)


TALK = transcript(
    (0.0, 4.0, "Welcome to the lecture on gradient descent and learning rates."),
    (4.0, 9.0, "Today we bake sourdough bread with flour, water and salt."),
)


@pytest.fixture
def scenes(tmp_path: Path) -> list[Path]:
    return write_scenes(tmp_path / "media", 16, seed=3)


def open_index(path: Path, **kw) -> CrossModalIndex:
    return CrossModalIndex(path, clip=ColourEmbedder(), text_embedder=HashedBowEmbedder(), **kw)


def colour_of(hit: Hit) -> str:
    return Path(hit.source).stem.split("_")[1]


# -- backends -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_backend_conformance(name: str) -> None:
    rng = np.random.default_rng(0)
    vecs, ids = unit(rng, 300, 32), np.arange(300, dtype=np.int64) * 7 + 5
    b = make_backend(name)
    b.build(vecs, ids)
    found, scores = b.query(vecs[:5], k=3)
    assert found.shape == scores.shape == (5, 3)
    assert found[:, 0].tolist() == ids[:5].tolist()  # each vector finds itself first
    np.testing.assert_allclose(scores[:, 0], 1.0, atol=1e-5)
    assert (np.diff(scores, axis=1) <= 1e-6).all()  # best first
    allowed = ids[100:110]
    found, _ = b.query(vecs[0], k=20, allowed=allowed)
    assert found.shape == (1, 10) and set(found[0].tolist()) == set(allowed.tolist())
    b.remove(ids[:1])
    assert len(b) == 299 and ids[0] not in b.query(vecs[0], k=5)[0][0]
    b.add(vecs[:1], np.array([9999]))
    assert b.query(vecs[0], k=1)[0][0, 0] == 9999
    assert b.query(vecs[0], k=1000)[0].shape == (1, 300)  # k larger than the collection


def test_unknown_backend_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UnknownNameError, match="faiss"):
        make_backend("faiss")
    with pytest.raises(UnknownNameError, match="choose one of"):
        CrossModalIndex(tmp_path / "i", backend="faiss")
    assert not (tmp_path / "i").exists()


def test_hnsw_recall_against_exact_on_5k_random_vectors() -> None:
    rng = np.random.default_rng(42)
    vecs, queries = unit(rng, 5000, 64), unit(rng, 200, 64)
    exact, hnsw = ExactBackend(), HnswBackend(seed=1)
    exact.build(vecs)
    hnsw.build(vecs)
    truth, true_scores = exact.query(queries, 10)
    approx, approx_scores = hnsw.query(queries, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(truth, approx, strict=True)])
    assert recall >= 0.95
    # scores are the same cosines: where both found an id, they agree
    assert np.allclose(approx_scores[:, 0], (vecs[approx[:, 0]] * queries).sum(1), atol=1e-4)
    assert (true_scores[:, 0] >= approx_scores[:, 0] - 1e-5).all()


def test_hnsw_save_load_and_determinism(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    vecs, queries, ids = unit(rng, 1000, 32), unit(rng, 20, 32), np.arange(1000) + 100
    a, b = HnswBackend(seed=3), HnswBackend(seed=3)
    a.build(vecs, ids)
    b.build(vecs, ids)
    assert np.array_equal(a.query(queries, 5)[0], b.query(queries, 5)[0])  # one seed, one graph
    a.remove(ids[:10])
    a.save(tmp_path / "g.hnsw.bin")
    c = HnswBackend(seed=3)
    assert c.load(tmp_path / "g.hnsw.bin", ids[10:])
    assert np.array_equal(c.query(queries, 5)[0], a.query(queries, 5)[0])
    assert not HnswBackend(M=8, seed=3).load(tmp_path / "g.hnsw.bin", ids[10:])  # other params
    assert not HnswBackend(seed=3).load(tmp_path / "g.hnsw.bin", ids)  # other contents


def test_fusion_interleaves_spaces_by_rank() -> None:
    def item(i: int, space: str) -> Item:
        return Item(i, "image" if space == "clip" else "document", f"/{i}", {}, "", None, space, "")

    clip = [(item(1, "clip"), 0.30), (item(2, "clip"), 0.29)]
    text = [(item(3, "text"), 0.90), (item(4, "text"), 0.80), (item(5, "text"), 0.70)]
    hits = fuse([clip, text], k=4)
    assert [h.item.id for h in hits] == [3, 1, 4, 2]  # rank 1s, then rank 2s; cosine breaks ties
    assert [h.rank for h in hits] == [1, 1, 2, 2] and hits[1].score == pytest.approx(0.30)


# -- store ------------------------------------------------------------------------------------


def test_round_trip_reopen_gives_identical_results(tmp_path: Path, scenes: list[Path]) -> None:
    wav = write_wav(tmp_path / "talk.wav")
    idx = open_index(tmp_path / "idx")
    result = idx.add_folder(scenes[0].parent, batch_files=5)  # several commits
    assert len(result) == 16 and not result.skipped
    idx.add_transcript(wav, transcript=TALK, passage_chars=70)
    first = [(h.item.id, round(h.score, 6)) for h in idx.search_text("a red thing", k=5)]
    by_text = idx.search_text("bread and flour", k=2, modality="transcript")
    again = open_index(tmp_path / "idx")
    assert [(h.item.id, round(h.score, 6)) for h in again.search_text("a red thing", k=5)] == first
    assert again.stats()["by_modality"] == {"image": 16, "transcript": 2}
    hit = again.search_text("bread and flour", k=1, modality="transcript")[0]
    assert hit.item == by_text[0].item and hit.locator == {"start": 4.0, "end": 9.0}
    assert "talk.wav 0:04-0:09" in str(hit)
    reds = [h for h in again.search_text("red", k=16, modality="image") if h.score > 0.5]
    assert reds and all(colour_of(h) == "red" for h in reds)
    assert Path(reds[0].item.thumbnail).is_file()
    assert not list((tmp_path / "idx").rglob("*.pkl"))


def test_readd_unchanged_is_noop_and_changed_file_is_replaced(
    tmp_path: Path, scenes: list[Path]
) -> None:
    idx = open_index(tmp_path / "idx")
    first = idx.add_folder(scenes[0].parent)
    version = idx.store.spaces()["clip"].version
    second = idx.add_folder(scenes[0].parent)
    assert {r.status for _, r in second} == {"unchanged"}
    assert [r.item_ids for _, r in second] == [r.item_ids for _, r in first]
    assert idx.store.spaces()["clip"].version == version and len(idx) == 16
    target = next(p for p in scenes if colour_of_path(p) != "blue")
    old_ids = idx.add_image(target).item_ids
    old_thumb = Path(idx.get(old_ids[0]).thumbnail)
    Image.new("RGB", (64, 64), COLORS["blue"]).save(target)  # same path, new content
    res = idx.add_image(target)
    assert res.status == "replaced" and set(res.item_ids).isdisjoint(old_ids)
    assert not old_thumb.exists() and Path(idx.get(res.item_ids[0]).thumbnail).is_file()
    assert len(idx) == 16 and idx.store.spaces()["clip"].count == 16
    with pytest.raises(IndexStoreError):
        idx.get(old_ids[0])
    top = idx.search_image(target, k=1)[0]
    assert top.item.id == res.item_ids[0] and top.score == pytest.approx(1.0, abs=1e-5)


def test_other_chunking_options_reindex_an_unchanged_file(tmp_path: Path) -> None:
    idx = open_index(tmp_path / "idx")
    wav = write_wav(tmp_path / "talk.wav")
    first = idx.add_transcript(wav, transcript=TALK, passage_chars=70)
    assert first.status == "added" and len(first.item_ids) == 2
    assert idx.add_transcript(wav, transcript=TALK, passage_chars=70).status == "unchanged"
    merged = idx.add_transcript(wav, transcript=TALK, passage_chars=300)
    assert merged.status == "replaced" and len(merged.item_ids) == 1 and len(idx) == 1
    assert idx.get(merged.item_ids[0]).locator == {"start": 0.0, "end": 9.0}


def colour_of_path(p: Path) -> str:
    return p.stem.split("_")[1]


def test_remove_source(tmp_path: Path, scenes: list[Path]) -> None:
    idx = open_index(tmp_path / "idx")
    idx.add_folder(scenes[0].parent)
    gone = scenes[2]
    thumb = Path(idx.items("image")[2].thumbnail)
    assert thumb.is_file() and gone in idx
    assert idx.remove(gone) == 1
    assert gone not in idx and len(idx) == 15 and not thumb.exists()
    assert all(h.source != str(gone) for h in idx.search_text("red green blue", k=20))
    assert idx.remove(gone) == 0 and idx.remove(tmp_path / "never.png") == 0
    assert len(open_index(tmp_path / "idx")) == 15  # persisted


def test_mismatched_embedder_is_refused(tmp_path: Path, scenes: list[Path]) -> None:
    idx = open_index(tmp_path / "idx")
    idx.add_image(scenes[0])
    with pytest.raises(IndexStoreError, match="test-colour-hist-64") as err:
        CrossModalIndex(tmp_path / "idx", clip=ColourEmbedder(name="another-clip"))
    assert "build a new index" in str(err.value)
    idx.add_transcript(write_wav(tmp_path / "a.wav"), transcript=TALK, passage_chars=70)
    with pytest.raises(IndexStoreError, match=r"dim 256\).*dim 128"):
        CrossModalIndex(tmp_path / "idx", text_embedder=HashedBowEmbedder(dim=128))
    assert len(open_index(tmp_path / "idx")) == 3  # nothing was touched


def test_modality_filter_and_lazy_embedders(tmp_path: Path, scenes: list[Path]) -> None:
    wav = write_wav(tmp_path / "talk.wav")
    text_only = CrossModalIndex(tmp_path / "t", text_embedder=HashedBowEmbedder())
    text_only.add_transcript(wav, transcript=TALK, passage_chars=70)
    hits = text_only.search_text("gradient descent")
    assert hits[0].locator["start"] == 0.0 and "clip" not in text_only._embedders  # never loaded
    idx = open_index(tmp_path / "idx")
    idx.add_folder(scenes[0].parent)
    idx.add_transcript(wav, transcript=TALK, passage_chars=70)
    mixed = idx.search_text("red bread", k=30)
    assert {h.modality for h in mixed} == {"image", "transcript"}
    assert {h.modality for h in idx.search_text("red bread", k=30, modality="image")} == {"image"}
    only = idx.search_text("red bread", k=30, modality=["transcript"])
    assert len(only) == 2 and {h.modality for h in only} == {"transcript"}
    assert idx.search_text("red", modality="document") == []  # none indexed: nothing, no error
    with pytest.raises(UnknownNameError, match="choose one of: document, image, transcript"):
        idx.search_text("red", modality="audio")
    with pytest.raises(IndexStoreError, match="empty"):
        idx.search_text("   ")


def test_search_by_example_excludes_the_item(tmp_path: Path, scenes: list[Path]) -> None:
    idx = open_index(tmp_path / "idx")
    idx.add_folder(scenes[0].parent)
    purple = [i for i in idx.items("image") if colour_of_path(Path(i.source)) == "purple"]
    assert len(purple) == 5  # seed 3 draws five purple shapes
    hits = idx.search_example(purple[0].id, k=15)
    assert len(hits) == 15 and purple[0].id not in [h.item.id for h in hits]
    assert [colour_of(h) for h in hits[:4]] == ["purple"] * 4
    with pytest.raises(IndexStoreError, match="another space"):
        idx.search_example(purple[0].id, modality="document")


def test_bad_files_in_a_folder_are_skipped(tmp_path: Path, scenes: list[Path]) -> None:
    folder = scenes[0].parent
    (folder / "notes.xyz").write_text("not indexable")
    good = scenes[1].read_bytes()
    (folder / "truncated.png").write_bytes(good[: len(good) // 3])
    (folder / "empty.jpg").write_bytes(b"")
    idx = open_index(folder / "my-index")  # an index inside the folder it indexes
    result = idx.add_folder(folder)
    assert len(result) == 16 and not any("my-index" in str(p) for p, _ in result)
    skipped = {s.path.name: s.error for s in result.skipped}
    assert set(skipped) == {"notes.xyz", "truncated.png", "empty.jpg"}
    assert "unsupported file type .xyz" in skipped["notes.xyz"]
    assert len(idx.add_folder(folder)) == 16  # thumbnails of the index are not indexed


def test_a_file_the_model_rejects_is_skipped_not_the_batch(
    tmp_path: Path, scenes: list[Path]
) -> None:
    from vega_lab.errors import ImageError

    class Picky(ColourEmbedder):
        """NaN for 65-px-wide images (an overflow), refuses 66-px-wide ones."""

        def encode_images(self, images):
            if any(im.width == 66 for im in images):
                raise ImageError("66 px wide images are not supported", "resize it")
            out = super().encode_images(images)
            out[[im.width == 65 for im in images]] = np.nan
            return out

    Image.new("RGB", (65, 64), COLORS["red"]).save(scenes[0].parent / "nan.png")
    Image.new("RGB", (66, 64), COLORS["red"]).save(scenes[0].parent / "refused.png")
    idx = CrossModalIndex(tmp_path / "idx", clip=Picky())
    result = idx.add_folder(scenes[0].parent)
    assert len(result) == 16 and len(idx) == 16
    skipped = {s.path.name: s.error for s in result.skipped}
    assert set(skipped) == {"nan.png", "refused.png"}
    assert "NaN" in skipped["nan.png"] and "66 px" in skipped["refused.png"]


def test_failed_write_leaves_the_index_intact(tmp_path: Path, scenes: list[Path]) -> None:
    class Broken(ColourEmbedder):
        def encode_images(self, images):  # a model that emits NaN (e.g. fp16 overflow)
            return np.full((len(images), self.dim), np.nan, np.float32)

    idx = open_index(tmp_path / "idx")
    idx.add_folder(scenes[0].parent)
    before = idx.store.spaces()["clip"]
    files_before = sorted(p.name for p in (tmp_path / "idx" / "vectors").iterdir())
    broken = CrossModalIndex(tmp_path / "idx", clip=Broken())
    new = tmp_path / "new.png"
    Image.new("RGB", (64, 64), COLORS["green"]).save(new)
    with pytest.raises(IndexStoreError, match="NaN"):
        broken.add_image(new)
    assert idx.store.spaces()["clip"] == before and new not in idx
    assert sorted(p.name for p in (tmp_path / "idx" / "vectors").iterdir()) == files_before
    # a crashed writer's orphans are swept by the next write and never read
    vectors = tmp_path / "idx" / "vectors"
    shutil.copy(vectors / f"clip.v{before.version}.vec.npy", vectors / "clip.v999.vec.npy")
    idx.add_image(new)
    assert not (tmp_path / "idx" / "vectors" / "clip.v999.vec.npy").exists()
    assert len(open_index(tmp_path / "idx")) == 17


def test_two_handles_see_each_others_writes(tmp_path: Path, scenes: list[Path]) -> None:
    a, b = open_index(tmp_path / "idx"), open_index(tmp_path / "idx")
    a.add_image(scenes[0])
    assert [h.source for h in b.search_image(scenes[0], k=5)] == [str(scenes[0])]
    b.add_image(scenes[1])
    assert len(a.search_image(scenes[1], k=5)) == 2


WRITER = """
import sys
sys.path.insert(0, {tests!r})
from test_index import open_index
from pathlib import Path
idx = open_index(Path({index!r}))
for p in {paths!r}:
    idx.add_image(p)
"""


def test_concurrent_writer_processes_lose_nothing(tmp_path: Path, scenes: list[Path]) -> None:
    import subprocess
    import sys

    tests = str(Path(__file__).parent)
    index = str(tmp_path / "idx")
    scripts = [
        WRITER.format(tests=tests, index=index, paths=[str(p) for p in half])
        for half in (scenes[:8], scenes[8:])
    ]
    procs = [subprocess.Popen([sys.executable, "-c", script]) for script in scripts]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    idx = open_index(tmp_path / "idx")
    assert len(idx) == 16 and idx.store.spaces()["clip"].count == 16
    for p in scenes:  # every image's vector is there and belongs to it
        assert idx.search_image(p, k=1)[0].score == pytest.approx(1.0, abs=1e-5)
    assert sorted(f.name for f in (tmp_path / "idx" / "vectors").iterdir()) == [
        "clip.v16.ids.npy",
        "clip.v16.vec.npy",
    ]


def test_auto_switches_to_a_persisted_hnsw(tmp_path: Path, scenes: list[Path]) -> None:
    exact = open_index(tmp_path / "e", backend="exact")
    exact.add_folder(scenes[0].parent)
    idx = open_index(tmp_path / "h", hnsw_threshold=10)
    idx.add_folder(scenes[0].parent)
    assert idx.stats()["spaces"]["clip"]["backend"] == "hnsw"
    got = idx.search_text("yellow", k=4)
    want = exact.search_text("yellow", k=4)
    assert [colour_of(h) for h in got] == ["yellow"] * 4
    assert {h.source for h in got} == {h.source for h in want}
    assert [h.score for h in got] == pytest.approx([h.score for h in want], abs=1e-5)
    assert idx.stats()["spaces"]["clip"]["hnsw_on_disk"]
    extra = tmp_path / "extra.png"
    Image.new("RGB", (64, 64), COLORS["purple"]).save(extra)
    idx.add_image(extra)  # the live graph follows the write and is saved for this version
    assert idx.search_image(extra, k=1)[0].source == str(extra)
    stats = open_index(tmp_path / "h", hnsw_threshold=10).stats()["spaces"]["clip"]
    assert stats["hnsw_on_disk"] and stats["vectors"] == 17
    reopened = open_index(tmp_path / "h", hnsw_threshold=10)
    assert reopened.search_image(extra, k=1)[0].source == str(extra)


def test_refuses_a_file_or_non_sqlite_catalogue(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    with pytest.raises(IndexStoreError, match="is a file"):
        CrossModalIndex(tmp_path / "afile")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "index.sqlite").write_text("this is not sqlite")
    with pytest.raises(IndexStoreError, match="not a SQLite database"):
        CrossModalIndex(tmp_path / "bad")
    assert (tmp_path / "bad" / "index.sqlite").read_text() == "this is not sqlite"


def test_bench_index_reports_every_contender(tmp_path: Path) -> None:
    from vega_lab.benchmarks.multimodal_index import bench_index

    out = bench_index(sizes=(600,), dim=32, queries=12, centres=20, seed=1)
    row = out["sizes"]["600"]
    assert row["index_exact_recall_at_k"] == 1.0  # the whole path returns exact's ids
    assert row["hnsw_recall_at_k"] >= 0.9 and row["index_hnsw_recall_at_k"] >= 0.9
    assert row.get("sklearn_brute_recall_at_k", 1.0) == 1.0
    for name in ("exact", "hnsw", "index_exact", "index_hnsw"):
        assert 0 < row[name]["median_ms"] <= row[name]["p95_ms"]
    assert "gaussian mixture" in out["data"] and row["hnsw_build_s"] > 0
