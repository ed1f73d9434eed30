"""Audio benchmarks: speech-to-text through vega_lab vs faster-whisper called directly, and
audio fingerprint identification on generated music.

Whisper: the shipped tiny.en, the same 16 kHz arrays, beam and temperature (0: beam search only,
reproducible) for both sides, four ~3 s clips and a 42 s one (two Whisper windows): ``direct`` is
``faster_whisper.WhisperModel(...).transcribe`` on a model the benchmark loads itself (what a
user's own code does), ``vega`` is ``vega_lab.multimodal.audio.transcribe.transcribe``. Calls
are interleaved clip by clip with the order alternating each round, timed from outside the
call; the overhead is the median over (clip, round) of vega/direct - 1. Each clip's WER against
the text espeak-ng spoke is reported for both sides.

Fingerprints: ``evaluate_fingerprint`` builds a library of ``synth_song`` tracks in a SQLite
file, then queries 5 s crops at random offsets with white noise at a given SNR and a random gain
(precision@1), and crops of songs not in the library (false matches). Deterministic per seed.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

SENTENCES = (
    "the quick brown fox jumps over the lazy dog",
    "open the door and turn on the light please",
    "we measured seven results on tuesday morning",
    "please send me the report before the meeting starts",
)


def synth_song(seed: int, seconds: float = 15.0, sr: int = 8000) -> np.ndarray:
    """A music-like signal: a random melody and bass of harmonic notes with decaying envelopes."""
    rng = np.random.default_rng(seed)
    y = np.zeros(int(seconds * sr), np.float32)
    scale = np.array([0, 2, 4, 5, 7, 9, 11])
    root = 48 + int(rng.integers(0, 12))
    for voice, (octave, lengths) in enumerate([(12, (0.125, 0.25, 0.375)), (0, (0.5, 1.0))]):
        t0 = 0.0
        while t0 < seconds:
            dur = float(rng.choice(lengths))
            midi = root + octave + scale[rng.integers(0, 7)] + 12 * int(rng.integers(0, 2))
            n = min(int(dur * sr), y.size - int(t0 * sr))
            tt = np.arange(n) / sr
            env = np.exp(-tt * (4.0 if voice == 0 else 2.0)) * np.minimum(1.0, tt * 200.0)
            hz = 440.0 * 2 ** ((midi - 69) / 12)
            note = sum(
                a * np.sin(2 * np.pi * hz * h * tt) for h, a in ((1, 1.0), (2, 0.5), (3, 0.25))
            )
            y[int(t0 * sr) : int(t0 * sr) + n] += (0.6 if voice == 0 else 0.4) * env * note
            t0 += dur
    return (y / np.abs(y).max() * 0.8).astype(np.float32)


def degrade(y: np.ndarray, snr_db: float, gain: float, rng: np.random.Generator) -> np.ndarray:
    """White noise at ``snr_db`` relative to the clip's power, then a gain change."""
    noise = rng.standard_normal(y.size).astype(np.float32)
    noise *= np.sqrt(np.mean(y**2) / (10 ** (snr_db / 10)) / np.mean(noise**2))
    return (gain * (y + noise)).astype(np.float32)


def evaluate_fingerprint(
    n_tracks: int = 8,
    n_queries: int = 20,
    snr_db: float = 10.0,
    seed: int = 0,
    *,
    track_s: float = 15.0,
    clip_s: float = 5.0,
) -> dict[str, float]:
    """Precision@1 on noisy, gain-changed crops of known tracks; how often crops of unknown
    tracks are matched anyway; latency and index size. Deterministic per seed."""
    from vega_lab.multimodal.audio.fingerprint import FingerprintDB, Fingerprinter

    rng = np.random.default_rng(seed)
    fp = Fingerprinter()
    songs = [synth_song(seed * 1000 + i, track_s, fp.sr) for i in range(n_tracks)]
    n = int(clip_s * fp.sr)
    hits, wrong, offset_err, lat = 0, 0, [], []
    with tempfile.TemporaryDirectory() as tmp, FingerprintDB(Path(tmp) / "fp.sqlite", fp) as db:
        t0 = time.perf_counter()
        for i, y in enumerate(songs):
            db.add(y, f"song{i}", sr=fp.sr)
        index_s = time.perf_counter() - t0
        n_hashes = sum(t["n_hashes"] for t in db.tracks())
        for q in range(n_queries):
            k = int(rng.integers(0, n_tracks))
            start = int(rng.integers(0, int((track_s - clip_s) * fp.sr)))
            clip = degrade(songs[k][start : start + n], snr_db, float(rng.uniform(0.2, 2.0)), rng)
            t0 = time.perf_counter()
            found = db.match(clip, top=1, sr=fp.sr)
            lat.append(time.perf_counter() - t0)
            if found and found[0].name == f"song{k}":
                hits += 1
                offset_err.append(abs(found[0].offset_s - start / fp.sr))
            stranger = synth_song(seed * 1000 + n_tracks + q, track_s, fp.sr)
            wrong += bool(
                db.match(degrade(stranger[start : start + n], snr_db, 1.0, rng), sr=fp.sr)
            )
    return {
        "precision_at_1": hits / n_queries,
        "unknown_false_match_rate": wrong / n_queries,
        "unknown_unmatched_rate": 1.0 - wrong / n_queries,
        "mean_offset_error_s": float(np.mean(offset_err)) if offset_err else float("nan"),
        "mean_query_ms": 1000.0 * float(np.mean(lat)),
        "median_query_ms": 1000.0 * float(np.median(lat)),
        "hashes_per_audio_s": n_hashes / (n_tracks * track_s),
        "index_ms_per_track": 1000.0 * index_s / n_tracks,
        "snr_db": snr_db,
        "n_tracks": n_tracks,
        "n_queries": n_queries,
    }


def bench_fingerprint(
    n_tracks: int = 20,
    n_queries: int = 40,
    snrs: tuple[float, ...] = (10.0, 0.0, -10.0),
    seed: int = 0,
) -> dict[str, Any]:
    """``evaluate_fingerprint`` at each SNR on one library size; figures keyed by SNR."""
    runs = {f"{s:g}dB": evaluate_fingerprint(n_tracks, n_queries, s, seed) for s in snrs}
    first = next(iter(runs.values()))
    return {
        "n_tracks": n_tracks,
        "n_queries": n_queries,
        "precision_at_1": {k: r["precision_at_1"] for k, r in runs.items()},
        "unknown_false_match_rate": {k: r["unknown_false_match_rate"] for k, r in runs.items()},
        "mean_offset_error_s": {k: r["mean_offset_error_s"] for k, r in runs.items()},
        "ms_per_query": statistics.median(r["median_query_ms"] for r in runs.values()),
        "hashes_per_audio_s": first["hashes_per_audio_s"],
        "index_ms_per_track": first["index_ms_per_track"],
        "all": runs,
    }


def _speech_clips(folder: Path) -> list[tuple[str, np.ndarray]]:
    from vega_lab.multimodal.audio.io import load_audio
    from vega_lab.multimodal.synth import speak

    clips = [
        (s, load_audio(speak(s, folder / f"s{i}.wav"), sr=16000)[0])
        for i, s in enumerate(SENTENCES)
    ]
    gap = np.zeros(8000, np.float32)  # past 30 s both sides cut and resume windows
    long = np.concatenate([part for _ in range(3) for _, y in clips for part in (y, gap)])
    clips.append((" ".join(list(SENTENCES) * 3), long))
    return clips


def bench_whisper(
    repeats: int = 3, beam_size: int = 5, threads: int | None = None
) -> dict[str, Any]:
    """Real-time factor of ``transcribe()`` vs faster-whisper direct on the same arrays."""
    from faster_whisper import WhisperModel

    from vega_lab.multimodal.audio.transcribe import _threads, resolve_model, transcribe
    from vega_lab.multimodal.audio.wer import word_error_rate

    n_threads = _threads(threads)
    _, _, path = resolve_model("tiny.en", "faster-whisper")
    direct_model = WhisperModel(path, device="cpu", compute_type="int8", cpu_threads=n_threads)

    def direct(y: np.ndarray) -> str:
        segments, _ = direct_model.transcribe(
            y, language="en", beam_size=beam_size, temperature=0.0
        )
        return " ".join(s.text.strip() for s in segments)

    def ours(y: np.ndarray) -> str:
        return transcribe(y, model="tiny.en", beam_size=beam_size, threads=n_threads).text

    with tempfile.TemporaryDirectory() as tmp:
        clips = _speech_clips(Path(tmp))
    sides = {"direct": direct, "vega": ours}
    for call in sides.values():  # warm-up: first calls pay for loading and caches
        call(clips[0][1])
    rtf: dict[str, list[list[float]]] = {k: [[] for _ in clips] for k in sides}
    texts: dict[str, list[str]] = {k: [""] * len(clips) for k in sides}
    for r in range(repeats):
        for c, (_, y) in enumerate(clips):
            for name in ("direct", "vega") if (r + c) % 2 == 0 else ("vega", "direct"):
                t0 = time.perf_counter()
                texts[name][c] = sides[name](y)
                rtf[name][c].append((time.perf_counter() - t0) / (y.size / 16000))
    ratios = [
        v / d
        for c in range(len(clips))
        for v, d in zip(rtf["vega"][c], rtf["direct"][c], strict=True)
    ]
    return {
        "model": "tiny.en",
        "beam_size": beam_size,
        "threads": n_threads,
        "repeats": repeats,
        "clip_s": [round(y.size / 16000, 2) for _, y in clips],
        "direct_rtf": [statistics.median(x) for x in rtf["direct"]],
        "vega_rtf": [statistics.median(x) for x in rtf["vega"]],
        "overhead_pct": 100.0 * (statistics.median(ratios) - 1.0),
        "wer_direct": [
            word_error_rate(ref, t) for (ref, _), t in zip(clips, texts["direct"], strict=True)
        ],
        "wer_vega": [
            word_error_rate(ref, t) for (ref, _), t in zip(clips, texts["vega"], strict=True)
        ],
        "texts_vega": texts["vega"],
    }
