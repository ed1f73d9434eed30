"""Audio descriptors with librosa: a fixed-length summary per clip and a per-frame table.

One magnitude STFT feeds every spectral feature (centroid, roll-off, flatness, chroma, MFCC), so a
clip is transformed once. The summary (MFCC mean/std, 12-bin chroma, centroid, ZCR, RMS)
is the classic fixed-length vector for comparing or clustering clips of different lengths; the
per-frame table is what the charts draw.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vega_lab.errors import AudioError
from vega_lab.multimodal.audio.io import AUDIO_SUFFIXES, load_audio
from vega_lab.multimodal.batch import BatchResult, iter_files, process_files

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "PITCH_CLASSES",
    "AudioFeatures",
    "as_mono",
    "audio_features",
    "audio_features_folder",
    "feature_frames",
    "features",
]

PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
N_FFT, HOP = 2048, 512
N_MFCC, N_MELS = 13, 40  # 40 mel bands: the usual MFCC front end, no empty filters at 8 kHz


@dataclass(frozen=True)
class AudioFeatures:
    """Summary of one clip. Spectral values are means over frames, with their std alongside."""

    sr: int
    duration_s: float
    mfcc_mean: np.ndarray  # (13,)
    mfcc_std: np.ndarray  # (13,)
    chroma: np.ndarray  # (12,) mean energy per pitch class C..B, each frame scaled to max 1
    spectral_centroid_hz: float
    spectral_centroid_std: float
    zcr: float  # zero crossings per sample
    zcr_std: float
    rms: float
    rms_std: float
    tempo_bpm: float | None = None

    @property
    def pitch_class(self) -> str:
        """The strongest pitch class ("A" for a 440 Hz tone)."""
        return PITCH_CLASSES[int(np.argmax(self.chroma))]

    def to_dict(self) -> dict[str, float | None]:
        """Flat, named values: one row of a DataFrame of many clips."""
        out: dict[str, float | None] = {"sr": self.sr, "duration_s": self.duration_s}
        out |= {f"mfcc{i + 1}_mean": float(v) for i, v in enumerate(self.mfcc_mean)}
        out |= {f"mfcc{i + 1}_std": float(v) for i, v in enumerate(self.mfcc_std)}
        out |= {f"chroma_{p}": float(v) for p, v in zip(PITCH_CLASSES, self.chroma, strict=True)}
        for name in ("spectral_centroid_hz", "spectral_centroid_std", "zcr", "zcr_std"):
            out[name] = getattr(self, name)
        out |= {"rms": self.rms, "rms_std": self.rms_std, "tempo_bpm": self.tempo_bpm}
        return out

    def vector(self) -> np.ndarray:
        """The numeric summary as one float32 vector (tempo left out: it is optional)."""
        scalars = [self.spectral_centroid_hz, self.spectral_centroid_std, self.zcr, self.zcr_std]
        scalars += [self.rms, self.rms_std]
        return np.concatenate([self.mfcc_mean, self.mfcc_std, self.chroma, scalars]).astype(
            np.float32
        )


def as_mono(y: np.ndarray | list[float], sr: int) -> np.ndarray:
    """Validated float32 mono samples: channels are averaged, empty/non-finite input refused."""
    if not isinstance(sr, int | np.integer) or sr <= 0:
        raise AudioError(f"sample rate must be a positive integer, got {sr!r}", "e.g. sr=16000")
    try:
        a = np.asarray(y, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise AudioError("audio samples are not numeric", "pass a 1-D float array") from exc
    if a.ndim == 2 and min(a.shape) <= 8:  # (channels, n) as librosa or (n, channels) as soundfile
        a = a.mean(axis=0 if a.shape[0] <= a.shape[1] else 1)
    if a.ndim != 1:
        raise AudioError(f"expected mono or (channels, samples) audio, got {a.shape}", "mix down")
    if a.size == 0:
        raise AudioError("the audio has no samples", "the recording is empty")
    if not np.isfinite(a).all():
        raise AudioError("the audio contains NaN or infinite samples", "clean or re-decode it")
    return a


def _padded(y: np.ndarray) -> np.ndarray:
    """Clips shorter than one window are zero-padded to it (librosa would warn and misbehave)."""
    return np.pad(y, (0, N_FFT - y.size)) if y.size < N_FFT else y


def _spectral(y: np.ndarray, sr: int, *, per_frame: bool) -> dict[str, np.ndarray]:
    """RMS, ZCR and centroid, plus chroma and MFCC for the summary (``per_frame=False``) or
    roll-off and flatness for the per-frame table: each is computed only where it is used."""
    import librosa

    y = _padded(y)
    mag = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP))
    out = {
        # from the samples: RMS from a Hann-windowed spectrum would read sqrt(3/8) too low
        "rms": librosa.feature.rms(y=y, frame_length=N_FFT, hop_length=HOP)[0],
        "zcr": librosa.feature.zero_crossing_rate(y, frame_length=N_FFT, hop_length=HOP)[0],
        "centroid": librosa.feature.spectral_centroid(S=mag, sr=sr, n_fft=N_FFT)[0],
    }
    if per_frame:
        out["rolloff"] = librosa.feature.spectral_rolloff(S=mag, sr=sr, n_fft=N_FFT)[0]
        out["flatness"] = librosa.feature.spectral_flatness(S=mag)[0]
        return out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # chroma tuning on silence warns; zeros are the answer
        out["chroma"] = librosa.feature.chroma_stft(S=mag**2, sr=sr, n_fft=N_FFT, hop_length=HOP)
    mel = librosa.feature.melspectrogram(S=mag**2, sr=sr, n_mels=N_MELS)
    out["mfcc"] = librosa.feature.mfcc(S=librosa.power_to_db(mel), n_mfcc=N_MFCC)
    return out


def features(y: np.ndarray, sr: int, *, tempo: bool = False) -> AudioFeatures:
    """Summary features of a clip; ``tempo=True`` adds a beat-tracker tempo (slower, and only
    meaningful for music longer than a few seconds)."""
    y = as_mono(y, sr)
    f = _spectral(y, sr, per_frame=False)
    bpm = None
    if tempo:
        import librosa

        bpm = float(np.atleast_1d(librosa.feature.tempo(y=_padded(y), sr=sr, hop_length=HOP))[0])
    return AudioFeatures(
        sr=int(sr),
        duration_s=y.size / sr,
        mfcc_mean=f["mfcc"].mean(axis=1),
        mfcc_std=f["mfcc"].std(axis=1),
        chroma=f["chroma"].mean(axis=1),
        spectral_centroid_hz=float(f["centroid"].mean()),
        spectral_centroid_std=float(f["centroid"].std()),
        zcr=float(f["zcr"].mean()),
        zcr_std=float(f["zcr"].std()),
        rms=float(f["rms"].mean()),
        rms_std=float(f["rms"].std()),
        tempo_bpm=bpm,
    )


def feature_frames(y: np.ndarray, sr: int) -> pd.DataFrame:
    """Per-frame features (hop 512 samples): ``time_s``, ``rms``, ``zcr``,
    ``spectral_centroid_hz``, ``spectral_rolloff_hz`` (85 % of energy below), ``spectral_flatness``
    (1 = noise-like, 0 = tonal)."""
    import librosa
    import pandas as pd

    y = as_mono(y, sr)
    f = _spectral(y, sr, per_frame=True)
    n = f["rms"].size
    return pd.DataFrame(
        {
            "time_s": librosa.frames_to_time(np.arange(n), sr=sr, hop_length=HOP),
            "rms": f["rms"],
            "zcr": f["zcr"][:n],
            "spectral_centroid_hz": f["centroid"],
            "spectral_rolloff_hz": f["rolloff"],
            "spectral_flatness": f["flatness"],
        }
    )


def audio_features(
    path: str | Path, *, sr: int = 16000, max_s: float | None = None, tempo: bool = False
) -> AudioFeatures:
    """``features`` of an audio file (resampled to ``sr``; ``max_s`` reads only the start)."""
    y, rate = load_audio(path, sr=sr, max_s=max_s)
    return features(y, rate, tempo=tempo)


def audio_features_folder(folder: str | Path, *, sr: int = 16000) -> BatchResult[AudioFeatures]:
    """``audio_features`` for every audio file under ``folder``; bad files are skipped."""
    return process_files(iter_files(folder, AUDIO_SUFFIXES), lambda p: audio_features(p, sr=sr))
