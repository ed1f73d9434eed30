"""The ffmpeg/ffprobe boundary: finding the tools, checking paths, turning failures into VideoError.

Every subprocess call goes through here so a missing binary, a corrupt file or a hung decoder
surfaces as one ``VideoError`` naming the file and the next step, never a CalledProcessError.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path

from vega_lab.errors import VideoError

__all__ = ["check_file", "passthrough_args", "require", "run"]


def require(tool: str) -> str:
    """Absolute path of ``tool`` (ffmpeg or ffprobe), or a VideoError saying how to install it."""
    exe = shutil.which(tool)
    if exe is None:
        raise VideoError(
            f"{tool} is not installed or not on PATH (video needs ffmpeg and ffprobe)",
            "install ffmpeg: `apt-get install ffmpeg` (or `brew install ffmpeg`)",
        )
    return exe


def check_file(path: str | Path) -> Path:
    """The path, if it is a non-empty file; the two most common mistakes get their own message."""
    p = Path(path)
    if not p.is_file():
        raise VideoError(f"{p}: no such video file", "check the path")
    if p.stat().st_size == 0:
        raise VideoError(f"{p}: the file is empty (0 bytes)", "re-export or re-download it")
    return p


def _last_line(stderr: bytes) -> str:
    lines = [ln.strip() for ln in stderr.decode(errors="replace").splitlines() if ln.strip()]
    return lines[-1] if lines else "no message"


def run(
    cmd: list[str], *, path: Path, action: str, timeout: float | None = None
) -> subprocess.CompletedProcess[bytes]:
    """Run an ffmpeg-family command; failures and timeouts become a VideoError for ``path``."""
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise VideoError(
            f"{path}: {action} did not finish within {timeout:g} s",
            "the file may be damaged or on a stalled network drive; try `ffprobe` on it",
        ) from exc
    if proc.returncode != 0:
        raise VideoError(
            f"{path}: {action} failed ({_last_line(proc.stderr)})",
            "the file is corrupt, truncated or not a video; `ffmpeg -i FILE` shows why",
        )
    return proc


@functools.cache
def passthrough_args(ffmpeg: str) -> tuple[str, ...]:
    """Options that make ffmpeg emit every decoded frame once, as-is: ``-fps_mode`` since
    ffmpeg 5.1, ``-vsync`` before (deprecated since, and possibly gone in later versions)."""
    probe = [ffmpeg, "-hide_banner", "-fps_mode", "passthrough", "-version"]
    ok = subprocess.run(probe, capture_output=True, timeout=30, check=False).returncode == 0
    return ("-fps_mode", "passthrough") if ok else ("-vsync", "passthrough")
