"""Loading audio: one entry point that validates before anything downstream sees samples.

librosa reads WAV/FLAC/OGG through soundfile and everything else (MP3, M4A, video tracks)
through audioread/ffmpeg; its errors differ by backend, so they are turned into one
``AudioError`` that names the file. Empty and silent-length files are refused here, because a
zero-length array makes every feature and model downstream fail in a confusing way.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from vega_lab.errors import AudioError

__all__ = ["AUDIO_SUFFIXES", "load_audio", "mono_at"]

AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".ogg", ".mp3", ".m4a", ".aac", ".opus", ".aiff"})


def load_audio(
    path: str | Path, sr: int | None = 16000, mono: bool = True, *, max_s: float | None = None
) -> tuple[np.ndarray, int]:
    """Samples as float32 in [-1, 1] resampled to ``sr`` (None keeps the file's rate), and the rate.

    ``max_s`` reads only the first seconds (previews of long recordings).
    """
    p = Path(path)
    if not p.is_file():
        raise AudioError(f"{p}: no such audio file", "check the path")
    if p.stat().st_size == 0:
        raise AudioError(f"{p}: the file is empty (0 bytes)", "re-export or re-record it")
    if p.suffix.lower() not in AUDIO_SUFFIXES:
        raise AudioError(
            f"{p}: unsupported audio type {p.suffix or '(none)'}",
            f"use one of {', '.join(sorted(AUDIO_SUFFIXES))} (ffmpeg can convert others)",
        )
    import librosa

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # audioread fallback warnings: the error says enough
            y, rate = librosa.load(p, sr=sr, mono=mono, duration=max_s)
    except Exception as exc:  # soundfile, audioread and ffmpeg each raise their own types
        raise AudioError(
            f"{p}: cannot decode audio ({type(exc).__name__}: {exc})",
            "the file is corrupt or not audio; try `ffmpeg -i` on it to see why",
        ) from exc
    if y.size == 0:
        raise AudioError(f"{p}: the audio has no samples", "the recording is empty")
    return y.astype(np.float32, copy=False), int(rate)


def mono_at(source: str | Path | np.ndarray, sr: int | None, target_sr: int) -> np.ndarray:
    """Mono float32 at ``target_sr``: a path decoded by ``load_audio``, or an array at ``sr``.

    An array must be non-empty, finite and 1-D: stereo is refused rather than mixed down, so a
    caller never matches or transcribes a mix it did not ask for (``features.as_mono`` mixes).
    """
    if not isinstance(source, np.ndarray):
        return load_audio(source, sr=target_sr)[0]
    if sr is None:
        raise AudioError("an audio array needs its sample rate", "pass sr=... with the array")
    y = np.asarray(source, dtype=np.float32)
    if y.ndim != 1 or y.size == 0 or not np.isfinite(y).all():
        raise AudioError(
            f"unusable audio array (shape {y.shape}, finite={bool(np.isfinite(y).all())})",
            "give a non-empty 1-D mono array without NaN/inf (stereo: y.mean(axis=0))",
        )
    if sr != target_sr:
        import librosa

        y = librosa.resample(y, orig_sr=sr, target_sr=target_sr).astype(np.float32)
    return y
