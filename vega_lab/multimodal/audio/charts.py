"""Altair charts of audio: waveform envelope, mel spectrogram, per-frame features.

A Vega-Lite spec embeds its data, so a minute of 16 kHz audio (960,000 samples) drawn naively
would make a notebook or report tens of megabytes. Every chart here reduces first, keeping what
the eye needs: the min/max envelope per time bin (peaks and clipping stay visible, unlike
decimation), a mel spectrogram pooled to a bounded grid, feature curves averaged per bin.
"""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from vega_lab.errors import AudioError
from vega_lab.multimodal.audio.features import HOP, N_FFT, _padded, as_mono

__all__ = ["features_chart", "spectrogram_chart", "waveform_chart"]


def _edges(n: int, bins: int) -> np.ndarray:
    return np.linspace(0, n, bins + 1).astype(np.int64)


def waveform_chart(
    y: np.ndarray,
    sr: int,
    max_points: int = 2000,
    *,
    title: str = "waveform",
    width: int = 600,
    height: int = 160,
) -> alt.Chart:
    """Amplitude over time; above ``max_points`` samples, the min..max band per time bin
    (at most ``max_points`` rows), so every peak is still drawn."""
    y = as_mono(y, sr)
    if max_points < 2:
        raise AudioError(f"max_points must be >= 2, got {max_points}", "use 2000")
    x = alt.X("time_s:Q", title="time (s)")
    if y.size <= max_points:
        data = pd.DataFrame({"time_s": np.arange(y.size) / sr, "amplitude": y})
        mark = alt.Chart(data, title=title).mark_line(strokeWidth=1)
        chart = mark.encode(x=x, y=alt.Y("amplitude:Q", scale=alt.Scale(domain=[-1, 1])))
    else:
        starts = _edges(y.size, max_points)[:-1]
        data = pd.DataFrame(
            {
                "time_s": starts / sr,
                "min": np.minimum.reduceat(y, starts),
                "max": np.maximum.reduceat(y, starts),
            }
        )
        chart = (
            alt.Chart(data, title=title)
            .mark_area(interpolate="step-after")
            .encode(
                x=x,
                y=alt.Y("min:Q", title="amplitude", scale=alt.Scale(domain=[-1, 1])),
                y2="max:Q",
            )
        )
    return chart.properties(width=width, height=height)


def spectrogram_chart(
    y: np.ndarray,
    sr: int,
    n_mels: int = 64,
    *,
    max_cells: int = 5000,
    top_db: float = 80.0,
    title: str = "mel spectrogram",
    width: int = 600,
    height: int = 240,
) -> alt.Chart:
    """Mel power in dB (relative to the loudest cell) as a heatmap of at most ``max_cells``
    rects: frames are pooled (mean power) into ``max_cells // n_mels`` time columns.

    Bands are placed on an HTK mel axis labelled in Hz, so low frequencies get the room they
    get in hearing.
    """
    import librosa

    y = as_mono(y, sr)
    if not 1 <= n_mels <= max_cells:
        raise AudioError(f"n_mels={n_mels} does not fit max_cells={max_cells}", "use n_mels=64")
    power = librosa.feature.melspectrogram(
        y=_padded(y), sr=sr, n_fft=N_FFT, hop_length=HOP, n_mels=n_mels, htk=True
    )
    cols = min(power.shape[1], max(1, max_cells // n_mels))
    edges = _edges(power.shape[1], cols)
    pooled = np.add.reduceat(power, edges[:-1], axis=1) / np.diff(edges)
    db = librosa.power_to_db(pooled, ref=float(pooled.max()) or 1.0, top_db=top_db)
    # filter k peaks at point k+1 of n_mels+2 evenly spaced mel points; its cell reaches halfway
    # to the neighbouring peaks, so the cells tile the axis
    points = np.linspace(0.0, float(librosa.hz_to_mel(sr / 2, htk=True)), n_mels + 2)
    centres = points[1:-1]
    lo = (points[:-2] + centres) / 2
    hi = (centres + points[2:]) / 2
    times = librosa.frames_to_time(edges, sr=sr, hop_length=HOP)
    data = pd.DataFrame(
        {
            "t0": np.repeat(times[:-1], n_mels).round(3),
            "t1": np.repeat(times[1:], n_mels).round(3),
            "mel_lo": np.tile(lo, cols).round(1),
            "mel_hi": np.tile(hi, cols).round(1),
            "hz": np.tile(librosa.mel_to_hz(centres, htk=True), cols).round().astype(int),
            "db": db.T.ravel().round(1),
        }
    )
    hz_label = "format(700 * (pow(10, datum.value / 2595) - 1), '.0f')"
    ticks = [t for t in (0, 250, 500, 1000, 2000, 4000, 8000, 16000) if t <= sr / 2]
    colour = alt.Scale(scheme="magma")
    return (
        alt.Chart(data, title=title)
        # a stroke in the fill colour closes the anti-aliasing seams between neighbouring rects
        .mark_rect(strokeWidth=0.5)
        .encode(
            x=alt.X(
                "t0:Q",
                title="time (s)",
                scale=alt.Scale(domain=[0, float(times[-1])], nice=False),
                axis=alt.Axis(grid=False),
            ),
            x2="t1:Q",
            y=alt.Y(
                "mel_lo:Q",
                title="frequency (Hz)",
                scale=alt.Scale(domain=[0, float(points[-1])], nice=False),
                axis=alt.Axis(
                    values=[float(v) for v in librosa.hz_to_mel(ticks, htk=True)],
                    labelExpr=hz_label,
                    grid=False,
                ),
            ),
            y2="mel_hi:Q",
            color=alt.Color("db:Q", title="dB", scale=colour),
            stroke=alt.Stroke("db:Q", scale=colour, legend=None),
            tooltip=[alt.Tooltip("t0:Q", title="time (s)", format=".2f"), "hz:Q", "db:Q"],
        )
        .properties(width=width, height=height)
    )


def features_chart(
    frames: pd.DataFrame,
    columns: list[str] | None = None,
    *,
    max_points: int = 1000,
    width: int = 600,
    height: int = 90,
) -> alt.FacetChart:
    """One panel per feature of ``feature_frames`` output over time, each with its own y scale;
    above ``max_points`` frames, values are averaged per time bin."""
    if "time_s" not in frames.columns:
        raise AudioError("the frames table has no time_s column", "pass feature_frames(y, sr)")
    wanted = columns or [c for c in frames.columns if c != "time_s"]
    missing = [c for c in wanted if c not in frames.columns]
    if missing or not wanted or frames.empty:
        raise AudioError(
            f"cannot chart columns {missing or wanted} of a {len(frames)}-row table",
            f"choose from {[c for c in frames.columns if c != 'time_s']}",
        )
    data = frames[["time_s", *wanted]]
    if len(data) > max_points:
        bins = np.repeat(np.arange(max_points), np.diff(_edges(len(data), max_points)))
        data = data.groupby(bins).mean()
    long = data.melt(id_vars="time_s", var_name="feature", value_name="value")
    return (
        alt.Chart(long)
        .mark_line(strokeWidth=1.2)
        .encode(
            x=alt.X("time_s:Q", title="time (s)"),
            y=alt.Y("value:Q", title=None, scale=alt.Scale(zero=False)),
            tooltip=["feature:N", alt.Tooltip("time_s:Q", format=".2f"), "value:Q"],
        )
        .properties(width=width, height=height)
        .facet(row=alt.Row("feature:N", title=None, sort=wanted))
        .resolve_scale(y="independent")
    )
