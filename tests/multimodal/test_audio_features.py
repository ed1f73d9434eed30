"""Audio features and charts on synthetic signals whose answers are known from physics.

A sine of f Hz crosses zero 2f times a second and has all its energy at f; white noise has a
flat spectrum; a 120 bpm click track has a tempo of 120; a chirp's centroid rises.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from vega_lab.errors import AudioError, MultimodalError
from vega_lab.multimodal import synth
from vega_lab.multimodal.audio import charts
from vega_lab.multimodal.audio.features import (
    PITCH_CLASSES,
    AudioFeatures,
    audio_features,
    audio_features_folder,
    feature_frames,
    features,
)

SR = 16000


@pytest.fixture(scope="module")
def summaries() -> dict[str, AudioFeatures]:
    noise = np.random.default_rng(0).uniform(-0.5, 0.5, SR).astype(np.float32)
    return {
        "440": features(synth.tone_array(1.0, 440, SR), SR),
        "880": features(synth.tone_array(1.0, 880, SR), SR),
        "noise": features(noise, SR),
    }


@pytest.mark.parametrize("hz", ["440", "880"])
def test_a_tone_has_its_frequency_as_centroid_and_zero_crossings(
    summaries: dict[str, AudioFeatures], hz: str
) -> None:
    f = summaries[hz]
    assert f.spectral_centroid_hz == pytest.approx(int(hz), rel=0.05)
    assert f.zcr == pytest.approx(2 * int(hz) / SR, rel=0.05)
    assert f.rms == pytest.approx(0.5 / np.sqrt(2), rel=0.05)
    assert f.duration_s == pytest.approx(1.0) and f.sr == SR


def test_a_tone_of_a_is_pitch_class_a(summaries: dict[str, AudioFeatures]) -> None:
    for name in ("440", "880"):
        chroma = summaries[name].chroma
        assert summaries[name].pitch_class == "A"
        a = PITCH_CLASSES.index("A")
        assert chroma[a] > 3 * np.delete(chroma, a).max()


def test_higher_tone_has_higher_centroid_and_zcr(summaries: dict[str, AudioFeatures]) -> None:
    low, high = summaries["440"], summaries["880"]
    assert high.spectral_centroid_hz > 1.8 * low.spectral_centroid_hz
    assert high.zcr > 1.8 * low.zcr


def test_white_noise_crosses_often_and_has_flat_chroma(
    summaries: dict[str, AudioFeatures],
) -> None:
    noise, tone = summaries["noise"], summaries["440"]
    assert noise.zcr > 0.4  # ~0.5 for white noise: every other sample changes sign
    assert noise.spectral_centroid_hz > 3000  # the middle of 0..8 kHz
    assert noise.chroma.min() / noise.chroma.max() > 0.6
    assert tone.chroma.min() / tone.chroma.max() < 0.05


def test_summary_shapes_and_flat_forms(summaries: dict[str, AudioFeatures]) -> None:
    f = summaries["440"]
    assert f.mfcc_mean.shape == f.mfcc_std.shape == (13,) and f.chroma.shape == (12,)
    assert np.isfinite(f.vector()).all() and f.vector().shape == (13 + 13 + 12 + 6,)
    row = f.to_dict()
    assert row["mfcc1_mean"] == pytest.approx(float(f.mfcc_mean[0]))
    assert row["chroma_A"] == pytest.approx(float(f.chroma[9])) and row["tempo_bpm"] is None
    # MFCCs tell the tone from noise, which is what they are used for
    other = summaries["noise"]
    assert np.linalg.norm(f.mfcc_mean - other.mfcc_mean) > 50


def test_feature_frames_follow_a_chirp() -> None:
    y = synth.chirp_array(3.0, 300, 3000, SR)
    frames = feature_frames(y, SR)
    assert list(frames.columns) == [
        "time_s",
        "rms",
        "zcr",
        "spectral_centroid_hz",
        "spectral_rolloff_hz",
        "spectral_flatness",
    ]
    assert len(frames) == 1 + len(y) // 512
    assert frames["time_s"].is_monotonic_increasing
    inner = frames.iloc[3:-3]  # away from the zero-padded edges
    assert np.corrcoef(inner["time_s"], inner["spectral_centroid_hz"])[0, 1] > 0.99
    assert (
        inner["spectral_centroid_hz"].iloc[0] < 500 < 2700 < inner["spectral_centroid_hz"].iloc[-1]
    )


def test_tempo_of_a_click_track() -> None:
    import librosa

    sr = 22050
    clicks = librosa.clicks(times=np.arange(0, 8, 0.5), sr=sr, length=8 * sr)
    f = features(clicks, sr, tempo=True)
    assert f.tempo_bpm == pytest.approx(120, rel=0.05)


def test_odd_but_valid_signals() -> None:
    tone = synth.tone_array(1.0, 440, SR)
    stereo = features(np.stack([tone, tone]), SR)  # (channels, samples) is mixed down
    assert stereo.spectral_centroid_hz == pytest.approx(440, rel=0.05)
    assert features(np.stack([tone, tone], axis=1), SR).duration_s == pytest.approx(1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a clip shorter than one window must not warn
        short = features(tone[:400], SR)
        silent = features(np.zeros(SR, np.float32), SR)
    assert short.duration_s == pytest.approx(0.025) and short.pitch_class == "A"
    assert silent.rms == 0 and silent.zcr == 0


@pytest.mark.parametrize(
    ("y", "sr", "message"),
    [
        (np.array([], np.float32), SR, "no samples"),
        (np.array([0.1, np.nan, 0.2]), SR, "NaN"),
        (np.zeros((2, 3, 100)), SR, "expected mono"),
        (np.zeros(100), 0, "sample rate"),
        (["a", "b"], SR, "not numeric"),
    ],
)
def test_bad_signals_are_audio_errors(y: object, sr: int, message: str) -> None:
    with pytest.raises(AudioError, match=message):
        features(y, sr)  # type: ignore[arg-type]


def test_audio_features_from_files_and_a_folder(tmp_path: Path) -> None:
    synth.tone(tmp_path / "a4.wav", 1.5, 440, sr=22050)
    synth.chirp(tmp_path / "sweep.flac", 1.0, 200, 2000)
    (tmp_path / "broken.wav").write_bytes(np.random.default_rng(1).bytes(3000))
    (tmp_path / "empty.mp3").write_bytes(b"")
    f = audio_features(tmp_path / "a4.wav")
    assert f.sr == 16000 and f.duration_s == pytest.approx(1.5, abs=0.01)
    assert f.pitch_class == "A"
    assert audio_features(tmp_path / "a4.wav", max_s=0.5).duration_s == pytest.approx(0.5, abs=0.01)
    result = audio_features_folder(tmp_path)
    assert sorted(p.name for p, _ in result.items) == ["a4.wav", "sweep.flac"]
    assert sorted(s.path.name for s in result.skipped) == ["broken.wav", "empty.mp3"]
    with pytest.raises(AudioError, match="no such audio file"):
        audio_features(tmp_path / "missing.wav")


def test_speak_renders_speech(tmp_path: Path) -> None:
    wav = synth.speak("hello world, this is a test", tmp_path / "speech" / "hello.wav")
    f = audio_features(wav)
    assert 1.0 < f.duration_s < 4.0 and f.rms > 0.01
    assert f.zcr > 0.02 and f.spectral_centroid_std > 100  # speech, not a steady tone
    with pytest.raises(MultimodalError, match="espeak-ng --voices"):
        synth.speak("hello", tmp_path / "x.wav", voice="xx-nonexistent")
    with pytest.raises(MultimodalError, match="empty text"):
        synth.speak("  ", tmp_path / "x.wav")


def test_speak_without_espeak_says_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(MultimodalError, match="apt-get install espeak-ng"):
        synth.speak("hello", tmp_path / "x.wav")


# --- charts -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def minute() -> np.ndarray:
    rng = np.random.default_rng(2)
    y = synth.tone_array(60.0, 440, SR)
    y[SR * 30 + 123] = 0.97  # one click that downsampling must not lose
    y[SR * 45 + 7] = -0.91
    return y + rng.normal(0, 0.001, y.size).astype(np.float32)


def _rows(chart: object) -> int:
    spec = chart.to_dict()  # type: ignore[attr-defined]
    (values,) = spec["datasets"].values()
    return len(values)


def test_waveform_envelope_is_bounded_and_keeps_peaks(minute: np.ndarray) -> None:
    chart = charts.waveform_chart(minute, SR, max_points=2000)
    assert _rows(chart) <= 2000
    data = chart.data
    assert data["max"].max() == pytest.approx(minute.max()) and data["max"].max() > 0.9
    assert data["min"].min() == pytest.approx(minute.min()) and data["min"].min() < -0.9
    assert data["time_s"].iloc[-1] < 60.0 <= data["time_s"].iloc[-1] + 0.05
    short = charts.waveform_chart(minute[:500], SR)
    assert _rows(short) == 500 and list(short.data.columns) == ["time_s", "amplitude"]


def test_spectrogram_is_bounded_and_shows_the_tone(minute: np.ndarray) -> None:
    chart = charts.spectrogram_chart(minute, SR, n_mels=64)
    assert _rows(chart) <= 5000
    data = chart.data
    assert data["hz"].nunique() == 64
    loudest = data.groupby("hz")["db"].mean().idxmax()
    assert loudest == pytest.approx(440, rel=0.1)
    assert data["t1"].max() == pytest.approx(60.0, abs=0.1)
    small = charts.spectrogram_chart(minute, SR, n_mels=32, max_cells=320)
    assert _rows(small) <= 320
    with pytest.raises(AudioError, match="n_mels"):
        charts.spectrogram_chart(minute, SR, n_mels=100, max_cells=50)


def test_features_chart_is_bounded(minute: np.ndarray) -> None:
    frames = feature_frames(minute, SR)
    assert len(frames) > 1800
    chart = charts.features_chart(frames, max_points=500)
    assert _rows(chart) <= 500 * (len(frames.columns) - 1)
    assert chart.to_dict()["facet"]["row"]["field"] == "feature"
    picked = charts.features_chart(frames, ["rms", "zcr"], max_points=300)
    assert _rows(picked) <= 600
    with pytest.raises(AudioError, match="choose from"):
        charts.features_chart(frames, ["loudness"])
