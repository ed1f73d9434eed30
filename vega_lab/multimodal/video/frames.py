"""Frames by index with OpenCV: uniform samples, chosen frames, a thumbnail.

Why ``cv2.VideoCapture`` for random access rather than one ``ffmpeg -ss`` per frame: it seeks
in-process, with no process start and no re-probing per frame. Both return exactly the frame
asked for (checked on ``synth``'s "counter" frames, which draw their own index); 8 samples
of 60 s of 640x360 H.264 take 0.5-0.6 s vs 2.1-2.4 s
(``benchmarks.multimodal_video.compare_frame_readers``).
Short gaps are bridged by decoding forward (``grab``), cheaper than a seek and always exact.
Reading a whole video is another job: ``video.stream`` pipes it through ffmpeg, faster there.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from vega_lab.errors import VideoError
from vega_lab.multimodal.video.probe import VideoInfo, probe_video

__all__ = ["Frame", "read_frames", "sample_uniform", "uniform_indices", "video_thumbnail"]

SEEK_GAP = 48  # decode forward instead of seeking when the next wanted frame is this close


@dataclass(frozen=True)
class Frame:
    """A decoded frame: its index in the stream, its timestamp and the RGB image."""

    index: int
    time_s: float
    image: Image.Image


@contextmanager
def open_capture(info: VideoInfo) -> Iterator[Any]:
    """An opened ``cv2.VideoCapture`` (FFmpeg backend), always released."""
    import cv2

    cap = cv2.VideoCapture(str(info.path), cv2.CAP_FFMPEG)
    try:
        if not cap.isOpened():
            raise VideoError(
                f"{info.path}: OpenCV cannot decode this {info.codec} video",
                f"convert it: `ffmpeg -i {info.path.name} -c:v libx264 out.mp4`",
            )
        yield cap
    finally:
        cap.release()


def _time_s(cap: Any, index: int, fps: float) -> float:
    import cv2

    ms = cap.get(cv2.CAP_PROP_POS_MSEC)
    return ms / 1000.0 if ms > 0 or index == 0 else index / fps


class _Reader:
    """Random access to frames by index: seek for long jumps, decode forward for short ones."""

    def __init__(self, cap: Any, fps: float) -> None:
        self.cap, self.fps, self.next_index = cap, fps, 0

    def read(self, index: int) -> tuple[np.ndarray, float] | None:
        import cv2

        gap = index - self.next_index
        if gap < 0 or gap > SEEK_GAP:
            self.cap.set(cv2.CAP_PROP_POS_FRAMES, index)
        else:
            for _ in range(gap):
                if not self.cap.grab():
                    self.next_index = -1
                    return None
        ok, bgr = self.cap.read()
        if not ok or bgr is None:
            self.next_index = -1
            return None
        self.next_index = index + 1
        return bgr, _time_s(self.cap, index, self.fps)


def _to_pil(bgr: np.ndarray, max_side: int | None = None) -> Image.Image:
    image = Image.fromarray(np.ascontiguousarray(bgr[:, :, ::-1]))
    if max_side is not None and max(image.size) > max_side:
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return image


def read_frames(
    path: str | Path | VideoInfo, indices: Sequence[int], *, max_side: int | None = None
) -> list[Frame]:
    """The frames at ``indices`` (sorted, de-duplicated); frames past a truncated end are left
    out, and a VideoError is raised only when none can be decoded."""
    info = path if isinstance(path, VideoInfo) else probe_video(path)
    wanted = sorted({int(i) for i in indices if 0 <= int(i) < info.n_frames})
    frames: list[Frame] = []
    with open_capture(info) as cap:
        reader = _Reader(cap, info.fps)
        for index in wanted:
            got = reader.read(index)
            if got is not None:
                frames.append(Frame(index, got[1], _to_pil(got[0], max_side)))
    if wanted and not frames:
        raise VideoError(
            f"{info.path}: no frame could be decoded",
            "the video data is damaged; `ffmpeg -v error -i FILE -f null -` lists the errors",
        )
    return frames


def uniform_indices(n_frames: int, n: int) -> list[int]:
    """``n`` frame indices at the centres of ``n`` equal segments (not the often black first and
    last frames); all frames when the video has fewer than ``n``."""
    if n < 1:
        raise VideoError(f"cannot sample {n} frames", "ask for n >= 1")
    n = min(n, n_frames)
    return sorted({int((i + 0.5) * n_frames / n) for i in range(n)})


def sample_uniform(path: str | Path, n: int = 8, *, max_side: int | None = None) -> list[Frame]:
    """``n`` frames evenly spread over the video, in time order (fewer if it is shorter)."""
    info = probe_video(path)
    return read_frames(info, uniform_indices(info.n_frames, n), max_side=max_side)


def video_thumbnail(path: str | Path, size: tuple[int, int] = (320, 180)) -> Image.Image:
    """A representative frame that fits in ``size``: of 5 evenly spread frames, the one with the
    most contrast, so fades to black and title cards are passed over."""
    info = probe_video(path)
    frames = read_frames(info, uniform_indices(info.n_frames, 5), max_side=max(size) * 2)
    best = max(frames, key=lambda f: float(np.asarray(f.image.convert("L"), np.float32).std()))
    image = best.image.copy()
    image.thumbnail(size, Image.Resampling.LANCZOS)
    return image
