"""OCR with the Tesseract command-line program: text, words with boxes and confidences.

Tesseract (Debian ``tesseract-ocr``, installed by ``.ci/ensure-system-deps``) runs offline and
ships its English model, so text in screenshots, scanned pages and figures becomes searchable
without downloading weights. It is called directly (one subprocess, TSV output) rather than
through pytesseract: one dependency less, and its errors become actionable ``VegaError``s
("not installed", "language pack missing") instead of opaque exit codes.
"""

from __future__ import annotations

import csv
import functools
import io
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from vega_lab.errors import ImageError, ModelWeightsError, MultimodalError
from vega_lab.multimodal.batch import BatchResult, iter_files, process_files
from vega_lab.multimodal.image.io import IMAGE_SUFFIXES, load_image

__all__ = ["OcrResult", "Word", "ocr_folder", "ocr_image", "tesseract_languages"]

_INSTALL_HINT = "install it with 'apt-get install tesseract-ocr' (.ci/ensure-system-deps does)"


@dataclass(frozen=True)
class Word:
    """One recognised word: text, confidence 0-1, box (x0, y0, x1, y1) in image pixels."""

    text: str
    conf: float
    box: tuple[int, int, int, int]


@dataclass(frozen=True)
class OcrResult:
    """Recognised text (lines joined by newlines, blocks by a blank line) and its words."""

    text: str
    words: list[Word] = field(default_factory=list)
    mean_conf: float = 0.0  # mean word confidence, 0-1; 0.0 when nothing was read


def _tesseract() -> str:
    exe = shutil.which("tesseract")
    if exe is None:
        raise ModelWeightsError(
            "tesseract is not installed (no 'tesseract' on PATH)", _INSTALL_HINT
        )
    return exe


@functools.lru_cache(maxsize=4)
def _languages(exe: str) -> tuple[str, ...]:
    proc = subprocess.run([exe, "--list-langs"], capture_output=True, text=True, timeout=60)
    lines = (proc.stdout or proc.stderr).splitlines()
    return tuple(sorted(line.strip() for line in lines[1:] if line.strip()))


def tesseract_languages() -> list[str]:
    """Language packs tesseract has installed (e.g. ``["eng", "osd"]``)."""
    return list(_languages(_tesseract()))


def _check_lang(exe: str, lang: str) -> None:
    have = _languages(exe)
    missing = [code for code in lang.split("+") if code not in have]
    if missing:
        packages = " ".join(f"tesseract-ocr-{code.lower().replace('_', '-')}" for code in missing)
        raise ModelWeightsError(
            f"tesseract has no language data for {', '.join(missing)} "
            f"(installed: {', '.join(have)})",
            f"install it with 'apt-get install {packages}'",
        )


def _parse_tsv(tsv: str) -> OcrResult:
    words: list[Word] = []
    lines: dict[tuple[int, int, int, int], list[str]] = {}
    for row in csv.DictReader(io.StringIO(tsv), delimiter="\t", quoting=csv.QUOTE_NONE):
        text = (row.get("text") or "").strip()
        if row.get("level") != "5" or not text:
            continue
        conf = float(row["conf"])
        if conf < 0:
            continue
        x, y, w, h = (int(row[k]) for k in ("left", "top", "width", "height"))
        words.append(Word(text=text, conf=conf / 100.0, box=(x, y, x + w, y + h)))
        key = tuple(int(row[k]) for k in ("page_num", "block_num", "par_num", "line_num"))
        lines.setdefault(key, []).append(text)  # type: ignore[arg-type]
    parts: list[str] = []
    previous_block: tuple[int, int] | None = None
    for (page, block, _par, _line), tokens in lines.items():
        if previous_block is not None and (page, block) != previous_block:
            parts.append("")
        parts.append(" ".join(tokens))
        previous_block = (page, block)
    mean = sum(w.conf for w in words) / len(words) if words else 0.0
    return OcrResult(text="\n".join(parts), words=words, mean_conf=mean)


def ocr_image(
    image: str | Path | Image.Image, lang: str = "eng", psm: int = 3, *, timeout: float = 120.0
) -> OcrResult:
    """Read the text in an image or file with Tesseract.

    ``lang`` is a tesseract code (``"eng"``, ``"deu"``, ``"eng+deu"``); ``psm`` the page
    segmentation mode (3 = automatic page layout, 6 = one uniform block, 7 = a single line,
    11 = sparse text). Tesseract reads text best at a height of about 20-40 pixels per line:
    upscale small screenshots first. Tesseract runs single-threaded (``OMP_THREAD_LIMIT=1``,
    unless already set) so parallel workers do not oversubscribe the CPU.
    """
    if not 1 <= int(psm) <= 13:
        raise ImageError(f"psm must be 1-13, got {psm}", "3 for pages, 6 for a block, 7 for a line")
    exe = _tesseract()
    _check_lang(exe, lang)
    img = image if isinstance(image, Image.Image) else load_image(image)
    if img.mode not in ("RGB", "L"):
        img = img.convert("RGB")
    env = {**os.environ}
    env.setdefault("OMP_THREAD_LIMIT", "1")
    with tempfile.TemporaryDirectory(prefix="vega-ocr-") as tmp:
        src = Path(tmp) / "page.png"
        dpi = img.info.get("dpi")
        img.save(src, format="PNG", **({"dpi": dpi} if dpi else {}))
        cmd = [exe, str(src), "stdout", "-l", lang, "--psm", str(int(psm)), "tsv"]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
        except subprocess.TimeoutExpired as exc:
            raise MultimodalError(
                f"tesseract took longer than {timeout:.0f} s",
                "crop or downscale the image, or raise timeout",
            ) from exc
    if proc.returncode != 0:
        detail = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "no message"
        raise MultimodalError(
            f"tesseract failed (exit {proc.returncode}): {detail}", "check the image and lang"
        )
    return _parse_tsv(proc.stdout)


def ocr_folder(folder: str | Path, lang: str = "eng", psm: int = 3) -> BatchResult[OcrResult]:
    """``ocr_image`` for every image under ``folder``; bad files are skipped, with why."""
    exe = _tesseract()
    _check_lang(exe, lang)  # a missing language pack fails once, not once per file
    paths = iter_files(folder, IMAGE_SUFFIXES)
    return process_files(paths, lambda p: ocr_image(p, lang, psm))
