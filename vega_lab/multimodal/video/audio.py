"""A video's soundtrack as a WAV file, the input every audio feature and speech model reads.

ffmpeg decodes any audio codec and resamples in one pass; the result is written to a temporary
file beside the target and renamed into place, so a failure never leaves a half-written WAV
and never replaces a good one.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from vega_lab.errors import VideoError
from vega_lab.multimodal.video._tools import require, run
from vega_lab.multimodal.video.probe import ffprobe_json

__all__ = ["extract_audio"]


def extract_audio(
    path: str | Path, out_wav: str | Path, sr: int = 16000, *, mono: bool = True
) -> Path:
    """Write the first audio track of ``path`` to ``out_wav`` (16-bit PCM at ``sr`` Hz)."""
    src, out = Path(path), Path(out_wav)
    if sr <= 0:
        raise VideoError(f"sample rate must be positive, got {sr}", "use sr=16000")
    if out.suffix.lower() != ".wav":
        raise VideoError(f"{out}: the output must be a .wav file", "name it e.g. audio.wav")
    streams = ffprobe_json(src)["streams"]
    if not any(s.get("codec_type") == "audio" for s in streams):
        raise VideoError(f"{src}: the video has no audio track", "there is nothing to extract")
    if out.exists() and out.resolve() == src.resolve():
        raise VideoError(f"{out}: would overwrite the input", "write the WAV somewhere else")
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(suffix=".wav", prefix=f".{out.stem}-", dir=out.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        cmd = [require("ffmpeg"), "-y", "-v", "error", "-i", str(src), "-map", "0:a:0", "-vn"]
        cmd += ["-ac", "1"] if mono else []
        cmd += ["-ar", str(int(sr)), "-c:a", "pcm_s16le", str(tmp)]
        run(cmd, path=src, action="extracting the audio")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out
