"""Shot-cut detection: a jump in the HSV colour histogram between consecutive frames.

Why histograms rather than pixel differences (ffmpeg's ``select='gt(scene,x)'`` scores the
change in mean absolute pixel difference): motion, noise and camera shake change many pixels but
hardly change the colour distribution, while a cut replaces it; and a cut between two scenes of
similar brightness moves few pixels far.
``benchmarks.multimodal_video.compare_scene_detectors`` runs both on
rendered clips with known cuts (figures in its docstring): this detector finds every cut within
one frame with no false cut where ffmpeg's filter misses about one in five. ffmpeg's filter is
faster: 1.2x on 60 s of 640x360 (both decode with ffmpeg; we add ~1-2 ms of histogram per
frame), 2-3x on 2 s clips where process start dominates.

Histograms are soft-binned (each pixel split between its two nearest bins per channel) so a
colour on a bin edge cannot flicker between bins, and hue is ignored for grey and dark pixels,
where it is noise. Within a scene the distance stays below 0.05 on those clips, and the weakest
cut (scrolling grey gradient to plain grey) scores 0.33. The cost: a cut between two shots with
the same palette is missed, and a slow fade is not a cut.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vega_lab.errors import VideoError
from vega_lab.multimodal.video.frames import Frame, read_frames
from vega_lab.multimodal.video.probe import VideoInfo, probe_video
from vega_lab.multimodal.video.stream import iter_frames

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Scene", "sample_scenes", "scene_boundaries", "scene_scores"]

HUE_BINS, SAT_BINS, VAL_BINS = 12, 4, 4
ANALYSIS_WIDTH = 96  # frames are compared at this width: enough pixels for a stable histogram


@dataclass(frozen=True)
class Scene:
    """A shot: ``[start_frame, end_frame)`` (end exclusive), ``start_s`` .. ``end_s``."""

    start_s: float
    end_s: float
    start_frame: int
    end_frame: int

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    @property
    def n_frames(self) -> int:
        return self.end_frame - self.start_frame


def _soft_bins(n: int, scale: float, circular: bool) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each uint8 channel value: its two nearest bins and their weights (lookup tables)."""
    x = np.arange(256) * scale
    lo = np.floor(x).astype(np.intp)
    w_hi = x - lo
    hi = lo + 1
    if circular:
        lo, hi = lo % n, hi % n
    else:
        lo, hi = np.minimum(lo, n - 1), np.minimum(hi, n - 1)
    return [(lo, 1.0 - w_hi), (hi, w_hi)]


# bin centres: hue every 15 (OpenCV hue is 0..179, so red, yellow, green, cyan, blue and magenta
# sit on centres), saturation and value at 0, 85, 170, 255
_HUE = _soft_bins(HUE_BINS, HUE_BINS / 180, circular=True)
_SAT = _soft_bins(SAT_BINS, (SAT_BINS - 1) / 255, circular=False)
_VAL = _soft_bins(VAL_BINS, (VAL_BINS - 1) / 255, circular=False)


def colour_histogram(bgr: np.ndarray) -> np.ndarray:
    """Soft-binned joint HSV histogram (12x4x4) of a BGR frame, summing to 1."""
    import cv2

    hsv = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV).reshape(-1, 3)
    h = [(bins[hsv[:, 0]], weights[hsv[:, 0]]) for bins, weights in _HUE]
    s = [(bins[hsv[:, 1]], weights[hsv[:, 1]]) for bins, weights in _SAT]
    v = [(bins[hsv[:, 2]], weights[hsv[:, 2]]) for bins, weights in _VAL]
    hist = np.zeros(HUE_BINS * SAT_BINS * VAL_BINS)
    for vb, vw in v:
        dark = vb == 0
        for sb, sw in s:
            s_eff = np.where(dark, 0, sb)
            grey = dark | (sb == 0)
            svw = sw * vw
            for hb, hw in h:
                code = (np.where(grey, 0, hb) * SAT_BINS + s_eff) * VAL_BINS + vb
                hist += np.bincount(code, weights=hw * svw, minlength=hist.size)
    return hist / hist.sum()


def _scores(info: VideoInfo, width: int) -> tuple[list[int], list[float], np.ndarray]:
    indices: list[int] = []
    times: list[float] = []
    scores: list[float] = []
    previous = None
    for index, time_s, bgr in iter_frames(info, width=width):
        hist = colour_histogram(bgr)
        scores.append(0.0 if previous is None else 0.5 * float(np.abs(hist - previous).sum()))
        indices.append(index)
        times.append(time_s)
        previous = hist
    return indices, times, np.asarray(scores)


def scene_scores(path: str | Path, *, width: int = ANALYSIS_WIDTH) -> pd.DataFrame:
    """Per frame: ``frame``, ``time_s`` and ``score`` (histogram distance to the previous frame,
    0 = same colours, 1 = none shared), for choosing a threshold by eye."""
    import pandas as pd

    indices, times, scores = _scores(probe_video(path), width)
    return pd.DataFrame({"frame": indices, "time_s": times, "score": scores})


def scene_boundaries(
    path: str | Path,
    threshold: float = 0.25,
    min_gap_s: float = 0.5,
    *,
    width: int = ANALYSIS_WIDTH,
) -> list[Scene]:
    """The shots of a video, in order, covering every frame.

    A cut is where the histogram distance exceeds ``threshold``; a cut closer than
    ``min_gap_s`` to the previous one is ignored (flashes, shaky transitions).
    """
    return _boundaries(probe_video(path), threshold, min_gap_s, width)


def _boundaries(info: VideoInfo, threshold: float, min_gap_s: float, width: int) -> list[Scene]:
    if not 0 < threshold < 1:
        raise VideoError(f"threshold must be in (0, 1), got {threshold}", "try 0.25")
    indices, times, scores = _scores(info, width)
    starts = [0]
    for k in range(1, len(scores)):
        if scores[k] > threshold and times[k] - times[starts[-1]] >= min_gap_s:
            starts.append(k)
    end_time = max(info.duration_s, times[-1] + 1 / info.fps)
    scenes = []
    for a, b in zip(starts, [*starts[1:], None], strict=True):
        scenes.append(
            Scene(
                start_s=times[a],
                end_s=times[b] if b is not None else end_time,
                start_frame=indices[a],
                end_frame=indices[b] if b is not None else indices[-1] + 1,
            )
        )
    return scenes


def sample_scenes(
    path: str | Path,
    threshold: float = 0.25,
    min_gap_s: float = 0.5,
    *,
    max_side: int | None = None,
) -> list[Frame]:
    """One frame per shot, from its middle (the frames right at a cut are often blurred)."""
    info = probe_video(path)
    scenes = _boundaries(info, threshold, min_gap_s, ANALYSIS_WIDTH)
    middles = [(s.start_frame + s.end_frame - 1) // 2 for s in scenes]
    return read_frames(info, middles, max_side=max_side)
