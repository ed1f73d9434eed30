"""A demo media folder the notebooks, the Voila dashboard and the panel tests share.

Everything is generated here, offline and seeded: rendered shape scenes (one carrying GPS and
camera EXIF, to scrub), a spoken WAV (espeak-ng), a short video with three scenes and a tone
(ffmpeg), a PDF with headings, a table and two topics, a Markdown note, and one corrupt file
that every folder-level function must skip without losing the rest.
"""

from __future__ import annotations

import random
from pathlib import Path

__all__ = ["SPOKEN", "demo_pdf", "make_demo_folder"]

SPOKEN = "federated learning keeps the data on every device and only shares model updates"

PDF_SECTIONS = [
    (
        "Federated averaging",
        "Federated averaging trains one model across many devices. Each client runs a few "
        "local epochs on its own data and the server averages the weights it receives. The raw "
        "data never leaves the device, which is why hospitals and phones use it.",
    ),
    (
        "Differential privacy",
        "Differential privacy bounds what any single record can change in the output. DP-SGD "
        "clips every per-example gradient and adds Gaussian noise; the accountant turns the "
        "noise multiplier, the sampling rate and the number of steps into epsilon.",
    ),
    (
        "Coral reefs",
        "Coral reefs cover less than one percent of the ocean floor yet shelter a quarter of "
        "all marine species. Warmer water bleaches the coral when it expels its algae.",
    ),
]


def demo_pdf(path: str | Path) -> Path:
    """A 3-page PDF: one heading + paragraph per page, and a results table on page 2."""
    import pymupdf as fitz

    out = Path(path)
    doc = fitz.open()
    for number, (heading, text) in enumerate(PDF_SECTIONS, 1):
        page = doc.new_page(width=595, height=842)
        page.insert_text((72, 90), heading, fontsize=20, fontname="hebo")
        page.insert_textbox(fitz.Rect(72, 110, 523, 300), text, fontsize=11)
        if number == 2:
            _table(page, [["epsilon", "accuracy"], ["1.0", "0.81"], ["8.0", "0.93"]])
    doc.set_metadata({"title": "vega_lab demo", "author": "vega_lab"})
    doc.save(out)
    doc.close()
    return out


def _table(page, rows: list[list[str]], x: float = 72, y: float = 330) -> None:
    """Ruled cells with text, which PyMuPDF's ``find_tables`` recognizes."""
    import pymupdf as fitz

    cw, ch = 120, 22
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            rect = fitz.Rect(x + c * cw, y + r * ch, x + (c + 1) * cw, y + (r + 1) * ch)
            page.draw_rect(rect, color=(0, 0, 0), width=0.8)
            page.insert_text((rect.x0 + 4, rect.y1 - 6), cell, fontsize=10)


def _exif_image(path: Path, seed: int) -> Path:
    """A shapes scene carrying GPS, camera and owner EXIF (what a phone photo leaks)."""
    from PIL import Image

    from vega_lab.multimodal.image.shapes import render_scene

    scene = render_scene(random.Random(seed), size=128, n_objects=2)
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x013B] = "PhoneMaker", "Phone 12", "Jane Doe"
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (48.0, 51.0, 24.0), 3: "E", 4: (2.0, 21.0, 3.0)})
    scene.image.save(path, "JPEG", quality=92, exif=exif)
    return path


def make_demo_folder(
    folder: str | Path, *, n_images: int = 12, seed: int = 0, speech: bool = True,
    video: bool = True,
) -> dict[str, list[Path]]:  # fmt: skip
    """Write the demo files into ``folder`` (kept if present) and return them by kind."""
    from vega_lab.multimodal.image.shapes import write_scenes

    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    files: dict[str, list[Path]] = {"image": [], "audio": [], "video": [], "document": []}
    files["image"] = write_scenes(root / "images", n_images, seed=seed, size=128)
    files["image"].append(_exif_image(root / "images" / "phone_photo.jpg", seed))
    if speech:
        from vega_lab.multimodal.synth import speak

        target = root / "audio" / "federated_note.wav"
        target.parent.mkdir(exist_ok=True)
        files["audio"].append(target if target.is_file() else speak(SPOKEN, target))
    if video:
        from vega_lab.multimodal.synth import render_video

        target = root / "video" / "three_scenes.mp4"
        target.parent.mkdir(exist_ok=True)
        if not target.is_file():
            render_video(target, [("red", 1.0), ("noise", 1.0), ("blue", 1.0)], audio_hz=440)
        files["video"].append(target)
    docs = root / "docs"
    docs.mkdir(exist_ok=True)
    files["document"].append(demo_pdf(docs / "privacy_notes.pdf"))
    note = docs / "reading_list.md"
    note.write_text(
        "# Reading list\n\nOpacus implements DP-SGD for PyTorch.\n\n"
        "## Robust aggregation\n\nKrum and the trimmed mean resist Byzantine clients.\n"
    )
    files["document"].append(note)
    (root / "images" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    return files
