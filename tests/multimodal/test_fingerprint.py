"""Audio fingerprints on generated music: noisy, gain-changed excerpts find their song and offset;
songs not in the library find nothing; the SQLite file survives re-opening; bad input is refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from vega_lab.errors import AudioError, IndexStoreError
from vega_lab.multimodal.audio.fingerprint import FingerprintDB, Fingerprinter

SR = 22050  # files are written at a common rate; the fingerprinter resamples to its own
N_SONGS = 8
SONG_S = 12.0
CLIP_S = 4.5


def song(seed: int, seconds: float = SONG_S, sr: int = SR) -> np.ndarray:
    """A random melody over a random bass line: notes with harmonics and plucked envelopes."""
    rng = np.random.default_rng(seed)
    y = np.zeros(int(seconds * sr))
    for lo, hi, amp, lengths in ((60, 84, 0.6, (0.15, 0.3)), (36, 55, 0.4, (0.6, 0.9))):
        t = 0.0
        while t < seconds:
            dur = float(rng.choice(lengths)) * float(rng.uniform(0.8, 1.2))
            hz = 440.0 * 2 ** ((int(rng.integers(lo, hi)) - 69) / 12)
            start = int(t * sr)
            tt = np.arange(min(int(dur * sr), y.size - start)) / sr
            env = np.exp(-3.5 * tt) * np.minimum(1.0, tt * 300)
            y[start : start + tt.size] += (
                amp * env * sum(np.sin(2 * np.pi * hz * k * tt) / k for k in (1, 2, 3))
            )
            t += dur
    return (0.8 * y / np.abs(y).max()).astype(np.float32)


def noisy(y: np.ndarray, snr_db: float, gain: float, rng: np.random.Generator) -> np.ndarray:
    noise = rng.standard_normal(y.size)
    noise *= np.sqrt(np.mean(y**2) / 10 ** (snr_db / 10) / np.mean(noise**2))
    return (gain * (y + noise)).astype(np.float32)


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[np.ndarray]]:
    """Eight songs as WAV files (plus one corrupt and one empty file), indexed by add_folder."""
    root = tmp_path_factory.mktemp("fp")
    music = root / "music"
    (music / "album").mkdir(parents=True)
    songs = [song(seed) for seed in range(N_SONGS)]
    for i, y in enumerate(songs):
        sf.write(music / ("album" if i % 2 else "") / f"song{i}.wav", y, SR)
    (music / "broken.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk" + bytes(64))
    (music / "empty.flac").write_bytes(b"")
    (music / "notes.txt").write_text("not audio, not an audio suffix: never looked at")
    db_path = root / "songs.sqlite"
    with FingerprintDB(db_path) as db:
        result = db.add_folder(music)
    assert sorted(p.name for p, _ in result.items) == sorted(f"song{i}.wav" for i in range(8))
    assert sorted(s.path.name for s in result.skipped) == ["broken.wav", "empty.flac"]
    assert all(s.path.name in s.error for s in result.skipped)  # each reason names its file
    return db_path, music, songs


def name_of(i: int) -> str:
    return f"album/song{i}" if i % 2 else f"song{i}"


def test_noisy_excerpts_find_their_song_and_offset(library) -> None:
    db_path, _, songs = library
    rng = np.random.default_rng(7)
    with FingerprintDB(db_path) as db:
        assert len(db) == N_SONGS
        for k in rng.permutation(N_SONGS)[:5]:
            start = int(rng.integers(0, int((SONG_S - CLIP_S) * SR)))
            clip = songs[k][start : start + int(CLIP_S * SR)]
            query = noisy(clip, snr_db=10.0, gain=float(rng.choice([0.25, 3.0])), rng=rng)
            matches = db.match(query, top=3, sr=SR)
            assert matches, f"song {k} at {start / SR:.2f} s was not found"
            best = matches[0]
            assert best.name == name_of(int(k))
            assert abs(best.offset_s - start / SR) < 0.1
            assert best.score >= db.min_votes and 0.0 < best.confidence <= 1.0
            # the right song wins by a wide margin over anything else that voted
            assert all(m.score * 3 < best.score for m in matches[1:])


def test_clip_from_a_file_matches_too(library, tmp_path: Path) -> None:
    db_path, _, songs = library
    clip = tmp_path / "clip.ogg"  # another codec and rate than the indexed WAVs
    sf.write(clip, songs[3][SR * 5 : SR * 10], SR)
    with FingerprintDB(db_path) as db:
        best = db.match(clip)[0]
    assert best.name == name_of(3)
    assert abs(best.offset_s - 5.0) < 0.1


def test_unknown_songs_are_not_matched(library) -> None:
    db_path, _, _ = library
    rng = np.random.default_rng(3)
    with FingerprintDB(db_path) as db:
        for seed in range(100, 106):
            stranger = song(seed)[: int(CLIP_S * SR)]
            assert db.match(noisy(stranger, 10.0, 1.0, rng), sr=SR) == []
            assert db.match(stranger, sr=SR) == []  # clean audio does not help a stranger


def test_reopening_the_file_gives_the_same_answers(library, tmp_path: Path) -> None:
    db_path, _, songs = library
    clip = songs[2][SR * 3 : SR * 7]
    with FingerprintDB(db_path) as db:
        before = db.match(clip, sr=SR)
        tracks = db.tracks()
    copy = tmp_path / "copy.sqlite"  # the file is self-contained: WAL was checkpointed on close
    copy.write_bytes(db_path.read_bytes())
    with FingerprintDB(copy) as db:
        assert db.tracks() == tracks
        assert db.match(clip, sr=SR) == before
    con = sqlite3.connect(db_path)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    n_hashes = con.execute("SELECT COUNT(*) FROM hashes").fetchone()[0]
    assert n_hashes == sum(t["n_hashes"] for t in tracks) > 0
    plan = " ".join(
        str(r) for r in con.execute("EXPLAIN QUERY PLAN SELECT * FROM hashes WHERE hash=1")
    )
    assert "hashes_by_hash" in plan
    con.close()


def test_other_fingerprint_parameters_are_refused(library) -> None:
    db_path, _, _ = library
    with pytest.raises(IndexStoreError, match="other parameters"):
        FingerprintDB(db_path, Fingerprinter(n_fft=2048))
    with FingerprintDB(db_path, Fingerprinter()) as db:  # the same parameters are fine
        assert len(db) == N_SONGS


def test_readding_a_folder_skips_what_is_there_and_names_stay_unique(library, tmp_path) -> None:
    db_path, music, songs = library
    copy = tmp_path / "copy.sqlite"
    copy.write_bytes(db_path.read_bytes())
    with FingerprintDB(copy) as db:
        again = db.add_folder(music)
        assert len(again) == 0 and len(again.skipped) == N_SONGS + 2
        assert sum("already in" in s.error for s in again.skipped) == N_SONGS
        with pytest.raises(IndexStoreError, match="already in"):
            db.add(songs[0], "song0", sr=SR)
        assert len(db) == N_SONGS  # the failed add left nothing behind
        assert db.remove("song0") and not db.remove("song0")
        assert all(m.name != "song0" for m in db.match(songs[0][: SR * 5], sr=SR))
        new_id = db.add(songs[0], "song0", sr=SR)
        assert db.match(songs[0][: SR * 5], sr=SR)[0].track_id == new_id


def test_bad_input_raises_audio_error(library, tmp_path: Path) -> None:
    _db_path, music, _ = library
    with FingerprintDB(tmp_path / "new.sqlite") as db:
        with pytest.raises(AudioError, match="cannot decode"):
            db.add(music / "broken.wav")
        with pytest.raises(AudioError, match="empty"):
            db.match(music / "empty.flac")
        with pytest.raises(AudioError, match="unsupported"):
            db.match(music / "notes.txt")
        with pytest.raises(AudioError, match="sample rate"):
            db.match(np.zeros(SR, np.float32))
        with pytest.raises(AudioError, match="too short"):
            db.match(np.ones(100, np.float32), sr=SR)
        with pytest.raises(AudioError, match="NaN"):
            db.match(np.full(SR, np.nan, np.float32), sr=SR)
        with pytest.raises(AudioError, match="mono"):
            db.match(np.zeros((2, SR * 3), np.float32), sr=SR)
        with pytest.raises(AudioError, match="no spectral peaks"):
            db.add(np.zeros(SR * 3, np.float32), "silence", sr=SR)
        assert db.match(np.zeros(SR * 3, np.float32), sr=SR) == []
        assert len(db) == 0


def test_a_file_that_is_not_sqlite_is_left_untouched(tmp_path: Path) -> None:
    target = tmp_path / "important.txt"
    target.write_text("my notes")
    with pytest.raises(IndexStoreError, match="not a SQLite database"):
        FingerprintDB(target)
    assert target.read_text() == "my notes"
    with pytest.raises(IndexStoreError, match="directory"):
        FingerprintDB(tmp_path)


def test_invalid_parameters_are_refused() -> None:
    with pytest.raises(AudioError, match="invalid fingerprint parameters"):
        Fingerprinter(hop=0)
    with pytest.raises(AudioError, match="invalid fingerprint parameters"):
        Fingerprinter(dt_min=10, dt_max=5)


def test_hashes_are_deterministic_and_gain_invariant() -> None:
    fp = Fingerprinter()
    y = song(42, seconds=6.0, sr=fp.sr)
    h1, t1 = fp.hashes(y)
    h2, t2 = fp.hashes(y.copy())
    assert h1.size > 100 and np.array_equal(h1, h2) and np.array_equal(t1, t2)
    h3, _ = fp.hashes(0.1 * y)  # peaks are relative to the clip's loudest bin
    assert np.array_equal(h1, h3)
    frames, _ = fp.peaks(y)
    per_second = np.bincount(frames // round(fp.sr / fp.hop))
    assert per_second.max() == fp.peaks_per_s  # busy music hits the cap, never exceeds it


def test_evaluation_on_generated_music_is_deterministic() -> None:
    from vega_lab.benchmarks.multimodal_audio import evaluate_fingerprint

    timing = {"mean_query_ms", "median_query_ms", "index_ms_per_track"}
    runs = [evaluate_fingerprint(n_tracks=3, n_queries=4, snr_db=0.0, seed=5) for _ in range(2)]
    first, second = ({k: v for k, v in r.items() if k not in timing} for r in runs)
    assert first == second
    assert first["precision_at_1"] == 1.0 and first["unknown_false_match_rate"] == 0.0
    assert first["mean_offset_error_s"] < 0.05 and first["hashes_per_audio_s"] > 50
