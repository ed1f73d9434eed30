"""What a video file holds, from ffprobe's JSON: duration, rate, frame count, size, codecs.

ffprobe reads the container headers only, so probing is cheap and the same for every format
ffmpeg knows; it is also the gate every other video function passes first, which is where
missing files, corrupt bytes, audio-only files and still images are turned away.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from vega_lab.errors import VideoError
from vega_lab.multimodal.batch import BatchResult, iter_files, process_files
from vega_lab.multimodal.video._tools import check_file, require, run

__all__ = ["VIDEO_SUFFIXES", "VideoInfo", "probe_folder", "probe_video"]

VIDEO_SUFFIXES = frozenset(
    {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".wmv", ".flv"}
)
PROBE_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class VideoInfo:
    """One video's technical facts. ``width``/``height`` are as displayed (rotation applied)."""

    path: Path
    duration_s: float
    fps: float
    n_frames: int
    width: int
    height: int
    codec: str
    has_audio: bool
    audio_codec: str | None
    audio_sr: int | None
    container: str
    rotation: int = 0
    n_frames_exact: bool = True  # False when estimated as duration * fps (mkv/webm headers)


def _rate(text: str | None) -> float:
    try:
        value = Fraction(text or "0")
    except (ValueError, ZeroDivisionError):
        return 0.0
    return float(value)


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def _rotation(stream: dict[str, Any]) -> int:
    for side in stream.get("side_data_list", []):
        if "rotation" in side:
            return int(_float(side["rotation"])) % 360
    return int(_float(stream.get("tags", {}).get("rotate"))) % 360


def ffprobe_json(path: str | Path) -> dict[str, Any]:
    """ffprobe's format and streams for ``path`` (a VideoError when it cannot read the file)."""
    p = check_file(path)
    cmd = [require("ffprobe"), "-v", "error", "-of", "json", "-show_format", "-show_streams"]
    proc = run([*cmd, str(p)], path=p, action="ffprobe", timeout=PROBE_TIMEOUT_S)
    try:
        data = json.loads(proc.stdout or b"{}")
    except json.JSONDecodeError as exc:
        raise VideoError(f"{p}: ffprobe returned unreadable output", "update ffmpeg") from exc
    if not data.get("streams"):
        raise VideoError(f"{p}: no audio or video streams found", "the file is not a media file")
    return data


def probe_video(path: str | Path) -> VideoInfo:
    """Probe a video; VideoError for missing/corrupt files, audio-only files and still images."""
    data = ffprobe_json(path)
    p = Path(path)
    fmt = data.get("format", {})
    container = str(fmt.get("format_name", ""))
    streams = data["streams"]
    video = next(
        (
            s
            for s in streams
            if s.get("codec_type") == "video" and not s.get("disposition", {}).get("attached_pic")
        ),
        None,
    )
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    if video is None:
        hint = "it is audio only: use vega_lab.multimodal.audio" if audio else "not a video file"
        raise VideoError(f"{p}: no video stream", hint)
    if container.endswith("_pipe") or container == "image2":
        raise VideoError(f"{p}: a still image, not a video", "use vega_lab.multimodal.image")
    fps = _rate(video.get("avg_frame_rate")) or _rate(video.get("r_frame_rate"))
    duration = _float(video.get("duration")) or _float(fmt.get("duration"))
    n_frames = int(_float(video.get("nb_frames")))
    exact = n_frames > 0
    if not exact:
        n_frames = round(duration * fps)
    width, height = int(video.get("width") or 0), int(video.get("height") or 0)
    if n_frames <= 0 or fps <= 0 or width <= 0 or height <= 0:
        raise VideoError(
            f"{p}: the video stream has no frames (fps={fps:g}, {width}x{height})",
            "the file is truncated or damaged; re-export it",
        )
    rotation = _rotation(video)
    if rotation in (90, 270):
        width, height = height, width
    return VideoInfo(
        path=p,
        duration_s=duration or n_frames / fps,
        fps=fps,
        n_frames=n_frames,
        width=width,
        height=height,
        codec=str(video.get("codec_name", "unknown")),
        has_audio=audio is not None,
        audio_codec=str(audio.get("codec_name")) if audio else None,
        audio_sr=(int(_float(audio.get("sample_rate"))) or None) if audio else None,
        container=container,
        rotation=rotation,
        n_frames_exact=exact,
    )


def probe_folder(
    folder: str | Path, suffixes: frozenset[str] | set[str] | None = VIDEO_SUFFIXES
) -> BatchResult[VideoInfo]:
    """Probe every video under ``folder``; bad files are skipped with the reason."""
    return process_files(iter_files(folder, suffixes), probe_video)
