"""Every frame of a video, downscaled, through an ffmpeg pipe: the input of stream analysis.

Why ffmpeg rather than ``cv2.VideoCapture`` here: ffmpeg scales in YUV before converting to
BGR and decodes on several threads, while OpenCV converts each full-size frame and then
resizes. For 60 s of 640x360 at 30 fps decoded to 96 px wide: 1.1 s vs 4.1 s (2.4 s vs 5.5 s
in a busier run; ``benchmarks.multimodal_video.compare_frame_readers``). Timestamps come from
ffmpeg's
``showinfo`` filter, read from stderr on a thread, so they are each frame's real presentation
time (variable frame rate included); passthrough frame timing keeps ffmpeg from duplicating or
dropping frames.
"""

from __future__ import annotations

import queue
import re
import subprocess
import threading
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import numpy as np

from vega_lab.errors import VideoError
from vega_lab.multimodal.video._tools import passthrough_args, require
from vega_lab.multimodal.video.probe import VideoInfo, probe_video

__all__ = ["iter_frames"]

_SHOWINFO = re.compile(r"Parsed_showinfo.*?\bn:\s*\d+\s+pts:\s*\S+\s+pts_time:(\S+)")
_END = object()
TIMESTAMP_WAIT_S = 60.0


def iter_frames(
    path: str | Path | VideoInfo, *, step: int = 1, width: int | None = None
) -> Iterator[tuple[int, float, np.ndarray]]:
    """Every ``step``-th frame as ``(index, time_s, BGR uint8 array)``, scaled to ``width``
    pixels wide (area averaging) when given.

    The file is checked now, not at the first ``next()``, so bad input fails where it is given;
    stopping early ends the ffmpeg process.
    """
    if step < 1:
        raise VideoError(f"step must be >= 1, got {step}", "use step=1 for every frame")
    info = path if isinstance(path, VideoInfo) else probe_video(path)
    size = (info.width, info.height)
    if width is not None and 0 < width < info.width:
        size = (width, max(1, round(info.height * width / info.width)))
    return _stream(info, step, size, require("ffmpeg"))


def _pump(stderr: IO[bytes], times: queue.Queue, tail: deque[str]) -> None:
    """Timestamps from showinfo lines into ``times``; other lines kept for error messages."""
    for raw in iter(stderr.readline, b""):
        line = raw.decode(errors="replace").strip()
        match = _SHOWINFO.search(line)
        if match:
            try:
                times.put(float(match.group(1)))
            except ValueError:  # NOPTS
                times.put(None)
        elif line:
            tail.append(line)
    times.put(_END)


def _stream(
    info: VideoInfo, step: int, size: tuple[int, int], ffmpeg: str
) -> Iterator[tuple[int, float, np.ndarray]]:
    w, h = size
    filters = [f"select='not(mod(n,{step}))'"] if step > 1 else []
    filters += [f"scale={w}:{h}:flags=area", "showinfo"]
    cmd = [ffmpeg, "-hide_banner", "-nostats", "-loglevel", "info", "-i", str(info.path)]
    cmd += ["-map", "0:v:0", "-vf", ",".join(filters), *passthrough_args(ffmpeg)]
    cmd += ["-f", "rawvideo", "-pix_fmt", "bgr24", "-"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    times: queue.Queue = queue.Queue()
    tail: deque[str] = deque(maxlen=5)
    reader = threading.Thread(target=_pump, args=(proc.stderr, times, tail), daemon=True)
    reader.start()
    frame_bytes, count, ended = w * h * 3, 0, False
    try:
        while True:
            data = proc.stdout.read(frame_bytes)
            if len(data) < frame_bytes:
                break
            index = count * step
            time_s = None
            if not ended:
                try:
                    got = times.get(timeout=TIMESTAMP_WAIT_S)
                except queue.Empty:
                    got = _END
                ended = got is _END
                time_s = None if ended else got
            count += 1
            frame = np.frombuffer(data, np.uint8).reshape(h, w, 3)
            yield index, (time_s if time_s is not None else index / info.fps), frame
    finally:
        proc.stdout.close()
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        reader.join(timeout=5)
        proc.stderr.close()
    if count == 0:
        raise VideoError(
            f"{info.path}: no frame could be decoded ({tail[-1] if tail else 'no message'})",
            "the video data is damaged; `ffmpeg -v error -i FILE -f null -` lists the errors",
        )
