"""Video: probing (ffprobe), frames by index (OpenCV), every frame as a stream (ffmpeg pipe),
shot-cut detection, contact sheets, and the soundtrack as WAV (ffmpeg).

Every bad input is a ``VideoError`` naming the file; OpenCV loads on first use.
"""

from __future__ import annotations

from vega_lab.multimodal.video.audio import extract_audio
from vega_lab.multimodal.video.frames import Frame, read_frames, sample_uniform, video_thumbnail
from vega_lab.multimodal.video.probe import VIDEO_SUFFIXES, VideoInfo, probe_folder, probe_video
from vega_lab.multimodal.video.scenes import (
    Scene,
    sample_scenes,
    scene_boundaries,
    scene_scores,
)
from vega_lab.multimodal.video.sheets import contact_sheet, thumbnail_strip
from vega_lab.multimodal.video.stream import iter_frames

__all__ = [
    "VIDEO_SUFFIXES",
    "Frame",
    "Scene",
    "VideoInfo",
    "contact_sheet",
    "extract_audio",
    "iter_frames",
    "probe_folder",
    "probe_video",
    "read_frames",
    "sample_scenes",
    "sample_uniform",
    "scene_boundaries",
    "scene_scores",
    "thumbnail_strip",
    "video_thumbnail",
]
