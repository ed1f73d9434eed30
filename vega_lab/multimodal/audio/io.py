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

__all__ = ["AUDIO_SUFFIXES", "load_audio"]

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
