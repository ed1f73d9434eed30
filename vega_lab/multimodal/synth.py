"""Rendered test media: videos with known scene cuts, tones, chirps and synthetic speech.

No media files are committed and nothing is downloaded, so tests, notebooks and benchmarks
render what they need here. Every output has a known ground truth (where the cuts are, which
frequency plays, which words are spoken), which is what makes a test of a detector able to fail.
Deterministic for a seed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from vega_lab.errors import MultimodalError
from vega_lab.multimodal.image.shapes import COLORS as SHAPE_COLORS

__all__ = [
    "COLORS",
    "PATTERNS",
    "chirp",
    "chirp_array",
    "cut_times",
    "read_counter",
    "render_video",
    "speak",
    "tone",
    "tone_array",
]

COLORS: dict[str, tuple[int, int, int]] = {
    **SHAPE_COLORS,
    "black": (0, 0, 0),
    "white": (255, 255, 255),
    "gray": (128, 128, 128),
    "cyan": (20, 200, 210),
    "magenta": (210, 30, 180),
}
# Patterns keep their colour histogram while pixels change every frame (motion, noise): a
# scene detector must not cut inside them. "counter" draws the frame index as 12 binary bars so
# a test can read back exactly which frame a sampler returned.
PATTERNS: tuple[str, ...] = ("noise", "moving_square", "gradient", "counter")
COUNTER_BITS = 12

SceneSpec = tuple[str | tuple[int, int, int], float]


def cut_times(scenes: Sequence[SceneSpec], fps: float = 10) -> list[float]:
    """True cut times (s) of a ``render_video`` clip: where each scene after the first starts."""
    frames = np.cumsum([max(1, round(s * fps)) for _, s in scenes])
    return [float(f / fps) for f in frames[:-1]]


def _check_scenes(scenes: Sequence[SceneSpec], size: tuple[int, int]) -> None:
    """Refuse a bad scene list before ffmpeg starts, so no partial file is ever written."""
    if not scenes:
        raise MultimodalError("render_video needs at least one scene", "pass [('red', 1.0)]")
    for kind, seconds in scenes:
        if isinstance(kind, str):
            if kind not in COLORS and kind not in PATTERNS:
                raise MultimodalError(
                    f"unknown scene {kind!r}",
                    f"use an RGB tuple, a colour ({', '.join(COLORS)}) or a pattern "
                    f"({', '.join(PATTERNS)})",
                )
            if kind == "counter" and size[0] < 8 * COUNTER_BITS:
                raise MultimodalError(
                    f"the counter pattern needs a width >= {8 * COUNTER_BITS}", "use 160x120"
                )
        elif len(kind) != 3 or not all(0 <= int(c) <= 255 for c in kind):
            raise MultimodalError(f"bad RGB colour {kind!r}", "use three values in 0..255")
        if not seconds > 0:
            raise MultimodalError(f"scene {kind!r} lasts {seconds} s", "use a positive duration")


def _frames(
    scenes: Sequence[SceneSpec], fps: float, size: tuple[int, int], seed: int
) -> Iterator[np.ndarray]:
    w, h = size
    rng = np.random.default_rng(seed)
    index = 0
    for kind, seconds in scenes:
        n = max(1, round(seconds * fps))
        solid = None
        if not isinstance(kind, str) or kind in COLORS:
            solid = np.empty((h, w, 3), np.uint8)
            solid[:] = np.asarray(COLORS[kind] if isinstance(kind, str) else kind, np.uint8)
        for i in range(n):
            if solid is not None:
                yield solid
            elif kind == "noise":
                yield rng.integers(0, 256, (h, w, 3), np.uint8)
            elif kind == "moving_square":
                yield _moving_square(w, h, i, n)
            elif kind == "gradient":
                ramp = ((np.arange(w) * 255 // max(1, w - 1) + 4 * i) % 256).astype(np.uint8)
                frame = np.empty((h, w, 3), np.uint8)
                frame[:] = ramp[None, :, None]
                yield frame
            else:
                yield _counter(w, h, index)
            index += 1


def _moving_square(w: int, h: int, i: int, n: int) -> np.ndarray:
    frame = np.full((h, w, 3), 40, np.uint8)
    side = max(4, min(w, h) // 3)
    x = round((w - side) * i / max(1, n - 1))
    y = (h - side) // 2
    frame[y : y + side, x : x + side] = (240, 240, 240)
    return frame


def _counter(w: int, h: int, index: int) -> np.ndarray:
    frame = np.zeros((h, w, 3), np.uint8)
    bar = w // COUNTER_BITS
    for bit in range(COUNTER_BITS):
        if index >> bit & 1:
            frame[:, bit * bar : (bit + 1) * bar] = 255
    return frame


def read_counter(image: Image.Image | np.ndarray) -> int:
    """The frame index drawn by the ``counter`` pattern, modulo 4096 (robust to lossy
    compression)."""
    grey = np.asarray(image, np.float32)
    if grey.ndim == 3:
        grey = grey.mean(axis=2)
    bar = grey.shape[1] // COUNTER_BITS
    inner = slice(bar // 4, bar - bar // 4)  # away from the edges that compression smears
    return sum(
        1 << b
        for b in range(COUNTER_BITS)
        if grey[:, b * bar : (b + 1) * bar][:, inner].mean() > 128
    )


def tone_array(seconds: float, hz: float, sr: int = 16000, amplitude: float = 0.5) -> np.ndarray:
    """A sine wave as float32 samples."""
    t = np.arange(round(seconds * sr)) / sr
    return (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def chirp_array(
    seconds: float, f0: float, f1: float, sr: int = 16000, amplitude: float = 0.5
) -> np.ndarray:
    """A linear sweep from ``f0`` to ``f1`` Hz as float32 samples."""
    t = np.arange(round(seconds * sr)) / sr
    phase = 2 * np.pi * (f0 * t + (f1 - f0) * t**2 / (2 * max(seconds, 1e-9)))
    return (amplitude * np.sin(phase)).astype(np.float32)


def _write_wav(path: str | Path, y: np.ndarray, sr: int) -> Path:
    import soundfile as sf

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    sf.write(out, y, sr)
    return out


def tone(path: str | Path, seconds: float, hz: float, sr: int = 16000) -> Path:
    """Write a sine tone (format from the suffix: .wav, .flac, .ogg)."""
    return _write_wav(path, tone_array(seconds, hz, sr), sr)


def chirp(path: str | Path, seconds: float, f0: float, f1: float, sr: int = 16000) -> Path:
    """Write a linear chirp from ``f0`` to ``f1`` Hz."""
    return _write_wav(path, chirp_array(seconds, f0, f1, sr), sr)


def _codecs(suffix: str) -> list[str]:
    if suffix == ".webm":
        return ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-c:a", "libopus"]
    if suffix == ".avi":
        return ["-c:v", "mpeg4", "-q:v", "3", "-c:a", "pcm_s16le"]
    return ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac"]


def render_video(
    path: str | Path,
    scenes: Sequence[SceneSpec] = (("red", 1.0), ("noise", 1.0), ("moving_square", 1.0)),
    fps: float = 10,
    size: tuple[int, int] = (160, 120),
    audio_hz: float | tuple[float, float] | None = 440,
    *,
    audio_sr: int = 44100,
    seed: int = 0,
) -> Path:
    """Encode a clip whose scenes are solid colours, RGB tuples or ``PATTERNS``.

    Each scene lasts ``round(seconds * fps)`` frames, so the cuts are at ``cut_times(scenes,
    fps)``. ``audio_hz`` adds a sine (or a chirp for a ``(f0, f1)`` pair) for the whole clip.
    The container follows the suffix (.mp4/.mkv/.mov: H.264 + AAC, .webm: VP9 + Opus, .avi).
    """
    w, h = size
    if w % 2 or h % 2 or w < 16 or h < 16:
        raise MultimodalError(
            f"video size {size} is unusable", "use even sizes >= 16, e.g. 160x120"
        )
    if fps <= 0:
        raise MultimodalError(f"fps must be positive, got {fps}", "use fps=10")
    _check_scenes(scenes, size)
    from vega_lab.multimodal.video._tools import require  # imports the video package

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    n_frames = sum(max(1, round(s * fps)) for _, s in scenes)
    cmd = [require("ffmpeg"), "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24"]
    cmd += ["-s", f"{w}x{h}", "-r", str(fps), "-i", "-"]
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".render-") as tmp:
        if audio_hz is not None:
            seconds = n_frames / fps
            if isinstance(audio_hz, tuple):
                y = chirp_array(seconds, *audio_hz, sr=audio_sr)
            else:
                y = tone_array(seconds, audio_hz, sr=audio_sr)
            wav = _write_wav(Path(tmp) / "audio.wav", y, audio_sr)
            cmd += ["-i", str(wav)]
        cmd += _codecs(out.suffix.lower())
        if audio_hz is None:
            cmd += ["-an"]
        partial = Path(tmp) / f"video{out.suffix}"  # renamed into place only when complete
        cmd += [str(partial)]
        with open(Path(tmp) / "stderr.txt", "w+b") as err:
            proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=err)
            assert proc.stdin is not None
            try:
                for frame in _frames(scenes, fps, size, seed):
                    proc.stdin.write(frame.tobytes())
            except BrokenPipeError:
                pass  # ffmpeg stopped early: its exit code and stderr say why
            finally:
                proc.stdin.close()
                rc = proc.wait()
            err.seek(0)
            message = err.read().decode(errors="replace").strip()
        if rc != 0:
            raise MultimodalError(
                f"ffmpeg could not encode {out}: {message.splitlines()[-1] if message else rc}",
                "check the suffix (.mp4, .mkv, .mov, .webm, .avi) and that the folder is writable",
            )
        os.replace(partial, out)
    return out


def speak(text: str, path: str | Path, voice: str = "en-us", rate: int = 160) -> Path:
    """Synthesize ``text`` to a WAV file (22.05 kHz mono) with espeak-ng, ``rate`` in words/min.

    Speech with a known transcript is what speech-to-text tests need; espeak-ng is offline.
    """
    if not text.strip():
        raise MultimodalError("speak() got empty text", "pass the words to say")
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise MultimodalError(
            "espeak-ng is not installed (needed to synthesize speech)",
            "apt-get install espeak-ng",
        )
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".speak-") as tmp:
        partial = Path(tmp) / "speech.wav"
        proc = subprocess.run(
            [exe, "-v", voice, "-s", str(int(rate)), "-w", str(partial), "--", text],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if proc.returncode != 0 or not partial.is_file() or partial.stat().st_size <= 44:
            message = (proc.stderr or proc.stdout).strip() or f"exit code {proc.returncode}"
            raise MultimodalError(
                f"espeak-ng could not speak with voice {voice!r}: {message}",
                "list the voices with `espeak-ng --voices` (e.g. en-us, en-gb, de, fr)",
            )
        os.replace(partial, out)
    return out
