"""Document reading (PDF, DOCX, TXT, Markdown, RTF), chunking and comparison on files generated
here: headings by font size, ruled tables, embedded images, encrypted/corrupt/scanned PDFs."""

from __future__ import annotations

import io
import itertools
from pathlib import Path

import pytest

from vega_lab.errors import DocumentError
from vega_lab.multimodal.document.chunking import chunk_document, split_sentences
from vega_lab.multimodal.document.compare import diff_documents, near_duplicate_documents
from vega_lab.multimodal.document.readers import (
    Document,
    extract_images,
    read_document,
    read_folder,
)

pymupdf = pytest.importorskip("pymupdf")

TOPICS = {
    "Volcanoes": (
        "Volcanoes erupt when molten rock called magma rises through cracks in the crust. "
        "Lava flows and clouds of ash can bury villages near the crater."
    ),
    "Baking Bread": (
        "Bread dough rises because yeast ferments sugars and releases carbon dioxide gas. "
        "Kneading develops gluten so the loaf keeps its shape in the hot oven."
    ),
    "Chess Openings": (
        "The Sicilian Defence answers the king's pawn opening by moving a pawn to c5. "
        "Grandmasters study opening theory to gain an early advantage on the board."
    ),
    "Coral Reefs": (
        "Coral reefs are built by colonies of tiny animals that secrete limestone skeletons. "
        "Warming oceans cause bleaching, when corals expel the algae that feed them."
    ),
}
TABLE = [["Panel", "Watts", "Price"], ["A", "300", "120"], ["B", "350", "150"]]


def png_bytes(size: tuple[int, int] = (40, 30), color: tuple[int, int, int] = (200, 30, 30)):
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return buf.getvalue()


def draw_table(page, rows: list[list[str]], x0: float = 72, y0: float = 300) -> None:
    """A ruled table: lines PyMuPDF's line detector can find, text in each cell."""
    cw, rh = 120, 20
    for r in range(len(rows) + 1):
        page.draw_line((x0, y0 + r * rh), (x0 + len(rows[0]) * cw, y0 + r * rh))
    for c in range(len(rows[0]) + 1):
        page.draw_line((x0 + c * cw, y0), (x0 + c * cw, y0 + len(rows) * rh))
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            page.insert_text((x0 + c * cw + 4, y0 + r * rh + 14), cell, fontsize=10)


def topics_pdf(path: Path, topics: dict[str, str] = TOPICS) -> Path:
    """One topic per page: a 20 pt heading, a body paragraph; page 1 adds a bold sub-heading,
    a ruled table and an image."""
    doc = pymupdf.open()
    for n, (title, body) in enumerate(topics.items()):
        page = doc.new_page()
        page.insert_text((72, 80), title, fontsize=20)
        page.insert_textbox(pymupdf.Rect(72, 100, 520, 200), body, fontsize=11)
        if n == 0:
            page.insert_text((72, 230), "Measured output", fontsize=11, fontname="hebo")
            page.insert_textbox(
                pymupdf.Rect(72, 240, 520, 290), "Two panels were measured.", fontsize=11
            )
            draw_table(page, TABLE)
            page.insert_image(pymupdf.Rect(300, 450, 380, 510), stream=png_bytes())
    doc.save(path)
    doc.close()
    return path


@pytest.fixture(scope="module")
def pdf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return topics_pdf(tmp_path_factory.mktemp("pdf") / "topics.pdf")


# -- PDF ----------------------------------------------------------------------------------------
def test_pdf_pages_headings_tables_and_images(pdf: Path) -> None:
    doc = read_document(pdf)
    assert doc.kind == "pdf" and [p.number for p in doc.pages] == [1, 2, 3, 4]
    assert doc.title == "Volcanoes" and not doc.warnings
    headings = [(b.text, b.level) for b in doc.headings]
    assert headings[:2] == [("Volcanoes", 1), ("Measured output", 2)]
    assert [t for t, _ in headings[2:]] == ["Baking Bread", "Chess Openings", "Coral Reefs"]
    first = doc.pages[0]
    body = [b for b in first.blocks if b.kind == "text"]
    assert body[0].text.startswith("Volcanoes erupt") and body[0].font_size == 11
    assert first.tables[0].rows == TABLE
    table_blocks = [b for b in first.blocks if b.kind == "table"]
    assert len(table_blocks) == 1 and "B | 350 | 150" in table_blocks[0].text
    assert not any(b.text == "Watts" for b in first.blocks)  # cells are not loose blocks
    (image,) = first.images
    assert (image.width, image.height) == (40, 30)
    assert image.bbox == pytest.approx((300, 450, 380, 510))
    assert "Kneading develops gluten" in doc.pages[1].text and doc.pages[1].tables == []
    assert "Coral reefs" in doc.text and doc.metadata["page_count"] == 4
    no_tables = read_document(pdf, tables=False)
    assert no_tables.pages[0].tables == [] and "Watts" in no_tables.pages[0].text


def test_skipping_pages_without_ruling_lines_loses_no_table(tmp_path: Path) -> None:
    """We skip table detection on pages whose graphics lack a horizontal or a vertical edge;
    on every kind of page here it must find exactly what detection on every page finds."""
    doc = pymupdf.open()
    rule = doc.new_page()  # horizontal rules and underlines only, text in columns
    rule.draw_line((72, 100), (520, 100))
    rule.draw_rect(pymupdf.Rect(72, 200, 520, 201.5), fill=(0, 0, 0))
    for r, row in enumerate(TABLE):
        for c, cell in enumerate(row):
            rule.insert_text((76 + c * 120, 130 + r * 20), cell, fontsize=10)
    boxes = doc.new_page()  # a table drawn as one rectangle per cell
    for r, row in enumerate(TABLE):
        for c, cell in enumerate(row):
            boxes.draw_rect(pymupdf.Rect(72 + c * 120, 300 + r * 20, 192 + c * 120, 320 + r * 20))
            boxes.insert_text((76 + c * 120, 314 + r * 20), cell, fontsize=10)
    draw_table(doc.new_page(), TABLE)
    doc.new_page().insert_text((72, 72), "No graphics at all.", fontsize=11)
    doc.save(tmp_path / "mixed.pdf")
    ours = [[t.rows for t in p.tables] for p in read_document(tmp_path / "mixed.pdf").pages]
    every_page = [
        [[[c or "" for c in row] for row in t.extract()] for t in p.find_tables(use_layout=False)]
        for p in doc
    ]
    assert ours == every_page and ours[1] == [TABLE] and ours[2] == [TABLE]


def test_html_headings_and_extracted_images(pdf: Path, tmp_path: Path) -> None:
    from PIL import Image

    doc = pymupdf.open()
    page = doc.new_page()
    page.insert_htmlbox(
        pymupdf.Rect(72, 72, 520, 400),
        "<h1>Coffee Brewing</h1><p>Espresso is brewed by forcing hot water through finely "
        "ground coffee. It takes about thirty seconds.</p>",
    )
    doc.save(tmp_path / "html.pdf")
    read = read_document(tmp_path / "html.pdf")
    first = read.pages[0].blocks[0]
    assert (first.kind, first.text) == ("heading", "Coffee Brewing")
    assert "finely ground coffee" in read.text  # ligatures ("ﬁ") expanded
    (written,) = extract_images(pdf, tmp_path / "images")
    assert written.name == "topics-p1-1.png"
    with Image.open(written) as img:
        assert img.size == (40, 30) and img.convert("RGB").getpixel((5, 5)) == (200, 30, 30)


def test_encrypted_pdf_needs_its_password(pdf: Path, tmp_path: Path) -> None:
    locked = tmp_path / "locked.pdf"
    with pymupdf.open(pdf) as doc:
        doc.save(locked, encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw="s3cret", owner_pw="o")
    with pytest.raises(DocumentError, match=r"encrypted.*password="):
        read_document(locked)
    with pytest.raises(DocumentError, match="wrong password"):
        read_document(locked, password="guess")
    doc = read_document(locked, password="s3cret")
    assert doc.metadata["encrypted"] and doc.pages[0].tables[0].rows == TABLE


def test_corrupt_truncated_and_empty_files(pdf: Path, tmp_path: Path) -> None:
    import numpy as np

    noise = tmp_path / "noise.pdf"
    noise.write_bytes(np.random.default_rng(0).bytes(4000))
    with pytest.raises(DocumentError, match="not a readable PDF") as err:
        read_document(noise)
    assert isinstance(err.value.__cause__, RuntimeError)  # wrapped, not leaked
    data = pdf.read_bytes()
    stub = tmp_path / "stub.pdf"
    stub.write_bytes(data[:200])  # the header and little else: nothing to repair
    with pytest.raises(DocumentError, match=r"stub\.pdf"):
        read_document(stub)
    cut = tmp_path / "cut.pdf"
    cut.write_bytes(data[: len(data) * 2 // 3])  # pages survive, the xref table does not
    with pytest.warns(UserWarning, match="no text recovered"):
        doc = read_document(cut)
    assert any("damaged" in w for w in doc.warnings)
    assert "Volcanoes erupt" in doc.pages[0].text
    for name in ("empty.pdf", "empty.docx", "empty.txt"):
        (tmp_path / name).write_bytes(b"")
        with pytest.raises(DocumentError, match="empty"):
            read_document(tmp_path / name)
    (tmp_path / "x.xyz").write_text("hi")
    with pytest.raises(DocumentError, match=r"unsupported.*\.pdf"):
        read_document(tmp_path / "x.xyz")
    (tmp_path / "old.doc").write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(DocumentError, match="convert it to docx"):
        read_document(tmp_path / "old.doc")
    with pytest.raises(DocumentError, match="does not exist"):
        read_document(tmp_path / "missing.pdf")


def scanned_pdf(path: Path, text: str = "INVOICE 2024") -> Path:
    """A page that is only a picture of text: no text layer."""
    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("RGB", (900, 200), "white")
    ImageDraw.Draw(img).text((40, 60), text, fill="black", font=ImageFont.load_default(64))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    doc = pymupdf.open()
    doc.new_page().insert_image(pymupdf.Rect(50, 50, 500, 150), stream=buf.getvalue())
    doc.save(path)
    return path


def test_scanned_pdf_reads_and_says_it_has_no_text(tmp_path: Path) -> None:
    path = scanned_pdf(tmp_path / "scan.pdf")
    with pytest.warns(UserWarning, match="no text layer"):
        doc = read_document(path)
    assert doc.pages[0].text == "" and len(doc.pages[0].images) == 1
    assert doc.metadata["pages_without_text"] == [1]
    assert any("ocr=True" in w for w in doc.warnings)
    assert chunk_document(doc) == []


def test_scanned_pdf_with_ocr(tmp_path: Path) -> None:
    pytest.importorskip("vega_lab.multimodal.image.ocr")
    doc = read_document(scanned_pdf(tmp_path / "scan.pdf"), ocr=True)
    assert doc.pages[0].ocr and "INVOICE" in doc.pages[0].text.upper()


# -- DOCX, TXT, Markdown, RTF ---------------------------------------------------------------------
def make_docx(path: Path) -> Path:
    import docx
    from docx.shared import Inches

    d = docx.Document()
    d.core_properties.author = "Ann"
    d.add_heading("Field Report", level=0)  # the "Title" style
    d.add_heading("Soil", level=1)
    d.add_paragraph("The soil samples were dry and sandy.")
    d.add_paragraph("first bullet", style="List Bullet")
    table = d.add_table(rows=2, cols=2)
    for r, row in enumerate([["Site", "pH"], ["North", "6.5"]]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    d.add_page_break()
    d.add_heading("Water", level=2)
    d.add_paragraph("The river water was clear.")
    d.add_picture(io.BytesIO(png_bytes((20, 10), (0, 0, 255))), width=Inches(1))
    d.save(path)
    return path


def test_docx_headings_tables_page_breaks_and_images(tmp_path: Path) -> None:
    from PIL import Image

    doc = read_document(make_docx(tmp_path / "report.docx"))
    assert doc.kind == "docx" and doc.title == "Field Report" and doc.metadata["author"] == "Ann"
    assert len(doc.pages) == 2
    kinds = [(b.kind, b.level, b.text) for b in doc.pages[0].blocks]
    assert kinds[:4] == [
        ("heading", 1, "Field Report"),
        ("heading", 1, "Soil"),
        ("text", None, "The soil samples were dry and sandy."),
        ("list", None, "first bullet"),
    ]
    assert doc.pages[0].tables[0].rows == [["Site", "pH"], ["North", "6.5"]]
    assert [(b.kind, b.level, b.text) for b in doc.pages[1].blocks] == [
        ("heading", 2, "Water"),
        ("text", None, "The river water was clear."),
    ]
    (image,) = extract_images(doc, tmp_path / "img")
    with Image.open(image) as img:
        assert img.size == (20, 10)


def test_broken_docx_files(tmp_path: Path) -> None:
    (tmp_path / "noise.docx").write_bytes(b"PK\x03\x04 not really a zip" * 10)
    with pytest.raises(DocumentError, match="not a readable DOCX"):
        read_document(tmp_path / "noise.docx")
    (tmp_path / "locked.docx").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600)
    with pytest.raises(DocumentError, match="encrypted"):
        read_document(tmp_path / "locked.docx")


def test_txt_pages_encodings_and_binary(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("Intro para.\n\nSecond para.\fPage two text.\f")
    doc = read_document(tmp_path / "a.txt")
    assert [p.text for p in doc.pages] == ["Intro para.\n\nSecond para.", "Page two text."]
    assert [b.text for b in doc.pages[0].blocks] == ["Intro para.", "Second para."]
    (tmp_path / "latin.txt").write_bytes("Café naïve".encode("cp1252"))
    latin = read_document(tmp_path / "latin.txt")
    assert latin.text == "Café naïve" and "Windows-1252" in latin.warnings[0]
    (tmp_path / "bin.txt").write_bytes(b"\x00\x01\x02binary")
    with pytest.raises(DocumentError, match="binary"):
        read_document(tmp_path / "bin.txt")


def test_markdown_structure(tmp_path: Path) -> None:
    md = (
        "---\ntitle: Lab Notes\n---\n# Setup\nWe use **two** [sensors](http://x).\n\n"
        "```python\n# not a heading\nx = 1\n```\n\nDetails\n-------\n- first\n- second\n\n"
        "| Name | Value |\n|---|---:|\n| a | 1 |\n| b | 2 |\n\n## End\nDone.\n"
    )
    (tmp_path / "notes.md").write_text(md)
    doc = read_document(tmp_path / "notes.md")
    assert doc.title == "Lab Notes" and len(doc.pages) == 1
    assert [(b.kind, b.level, b.text) for b in doc.pages[0].blocks] == [
        ("heading", 1, "Setup"),
        ("text", None, "We use two sensors."),
        ("code", None, "# not a heading\nx = 1"),
        ("heading", 2, "Details"),
        ("list", None, "- first\n- second"),
        ("table", None, "Name | Value\na | 1\nb | 2"),
        ("heading", 2, "End"),
        ("text", None, "Done."),
    ]
    assert doc.pages[0].tables[0].rows == [["Name", "Value"], ["a", "1"], ["b", "2"]]


HAND_RTF = rb"""{\rtf1\ansi\ansicpg1252\deff0{\fonttbl{\f0\froman\fcharset0 Times;}
{\f1\fswiss\fcharset204 Arial Cyr;}}{\colortbl;\red255\green0\blue0;}
{\stylesheet{\s0 Normal;}{\s1\outlinelevel0 heading 1;}{\s2\f1\fs28 heading 2;}{\*\cs10 Default;}}
{\info{\title Quarterly R\'e9sum\'e9}{\author Ann}{\creatim\yr2024\mo1\dy2}}
{\*\generator Hand 1.0;}
\pard\s1\outlinelevel0 Introduction\par
\pard\plain Caf\'e9 cr\u232?me costs \u8364? 3\'2c not \{free\}.\par
{\pard\s2 Details\par}
\pard Cyrillic: {\f1
\'cf\'f0\'e8\'e2\'e5\'f2}, emoji \u-10179?\u-8704?, {\field{\*\fldinst HYPERLINK "http://x"}
{\fldrslt the link}}.\line next\tab tab\par
{\pict\pngblip 89504e470d0a}
\trowd\cellx1000\cellx2000\pard\intbl A1\cell B1\cell\row
\trowd\cellx1000\cellx2000\pard\intbl A2\cell B2\cell\row
\pard After the table.\page
Second page, with {\b bold} text\bin3 {}\ and more.\par
}"""


def test_rtf_written_by_hand(tmp_path: Path) -> None:
    (tmp_path / "hand.rtf").write_bytes(HAND_RTF)
    doc = read_document(tmp_path / "hand.rtf")
    assert doc.title == "Quarterly Résumé" and doc.metadata["author"] == "Ann"
    assert [(b.kind, b.level, b.text) for b in doc.pages[0].blocks] == [
        ("heading", 1, "Introduction"),
        ("text", None, "Café crème costs € 3, not {free}."),
        ("heading", 2, "Details"),
        ("text", None, "Cyrillic: Привет, emoji 😀, the link.\nnext\ttab"),
        ("table", None, "A1 | B1\nA2 | B2"),
        ("text", None, "After the table."),
    ]
    assert doc.pages[0].tables[0].rows == [["A1", "B1"], ["A2", "B2"]]
    assert doc.pages[1].text == "Second page, with bold text and more."
    assert "Times" not in doc.text and "89504e" not in doc.text and "HYPERLINK" not in doc.text
    (tmp_path / "cut.rtf").write_bytes(HAND_RTF[:600])
    cut = read_document(tmp_path / "cut.rtf")
    assert "Introduction" in cut.text and any("truncated" in w for w in cut.warnings)
    (tmp_path / "plain.rtf").write_text("just text")
    with pytest.raises(DocumentError, match="not an RTF"):
        read_document(tmp_path / "plain.rtf")


def test_rtf_written_by_pygments(tmp_path: Path) -> None:
    """A tool's RTF (font and color tables, \\uc0 Unicode, escaped braces and backslashes)."""
    from pygments import highlight
    from pygments.formatters import RtfFormatter
    from pygments.lexers import PythonLexer

    code = 'def café(x):\n    """Grüße — 日本 😀"""\n    return {x: "a\\\\b"}\n'
    (tmp_path / "code.rtf").write_text(highlight(code, PythonLexer(), RtfFormatter()))
    doc = read_document(tmp_path / "code.rtf")
    assert [b.text for b in doc.pages[0].blocks] == code.rstrip("\n").split("\n")


def test_read_folder_skips_bad_files(pdf: Path, tmp_path: Path) -> None:
    (tmp_path / "good.pdf").write_bytes(pdf.read_bytes())
    (tmp_path / "notes.txt").write_text("Some notes.")
    (tmp_path / "bad.pdf").write_bytes(b"%PDF-1.7 garbage")
    (tmp_path / "empty.md").write_bytes(b"")
    (tmp_path / "image.png").write_bytes(png_bytes())  # not a document: not even tried
    result = read_folder(tmp_path)
    assert sorted(p.name for p, _ in result) == ["good.pdf", "notes.txt"]
    assert all(isinstance(d, Document) for _, d in result)
    reasons = {s.path.name: s.error for s in result.skipped}
    assert set(reasons) == {"bad.pdf", "empty.md"} and "empty" in reasons["empty.md"]


# -- chunking ------------------------------------------------------------------------------------
def test_sentence_splitting_keeps_abbreviations() -> None:
    text = 'Dr. Smith saw e.g. Fig. 3 of J. Doe. The U.S. Army came! "Quoted." Done? 4 left.'
    assert split_sentences(text) == [
        "Dr. Smith saw e.g. Fig. 3 of J. Doe.",
        "The U.S. Army came!",
        '"Quoted."',
        "Done?",
        "4 left.",
    ]


def test_chunks_respect_pages_headings_size_and_overlap(tmp_path: Path) -> None:
    sentences = [f"Sentence number {i} talks about topic {i % 3} in detail." for i in range(30)]
    md = "# Alpha\n" + " ".join(sentences[:20]) + "\n\nShort para.\n\n# Beta\n" + sentences[20]
    (tmp_path / "a.md").write_text(md + "\fignored")  # a form feed is no page break in .md
    txt = tmp_path / "b.txt"
    txt.write_text(" ".join(sentences[:12]) + "\f" + " ".join(sentences[12:]))
    doc = read_document(tmp_path / "a.md")
    chunks = chunk_document(doc, max_chars=200, overlap=60)
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert all(len(c.text) <= 200 for c in chunks)
    assert {c.heading for c in chunks} == {"Alpha", "Beta"}
    assert chunks[-1].heading == "Beta" and chunks[-1].text.startswith(sentences[20])
    alpha = [c for c in chunks if c.heading == "Alpha"]
    for prev, nxt in itertools.pairwise(alpha):  # whole last sentence carried over
        assert nxt.text.startswith(split_sentences(prev.text)[-1])
    assert chunks[-1].tag == "[a.md p.1]"
    pages = chunk_document(read_document(txt), max_chars=300, overlap=0)
    by_page = {p: [c.text for c in pages if c.page == p] for p in (1, 2)}
    assert all(sentences[11] not in t or p == 1 for p, ts in by_page.items() for t in ts)
    assert by_page[2][0].startswith(sentences[12])  # no chunk starts on page 1 and ends on 2
    assert "".join(by_page[1]).count("Sentence number") == 12
    with pytest.raises(DocumentError, match="overlap"):
        chunk_document(doc, max_chars=200, overlap=150)


def test_headings_without_text_are_chunks_of_their_own(tmp_path: Path) -> None:
    (tmp_path / "slides.md").write_text("# Plan\n## Goals\n## Risks\nFloods.\n\n***\n\nEnd.\n")
    chunks = chunk_document(read_document(tmp_path / "slides.md"))
    assert [(c.heading, c.text) for c in chunks] == [
        ("Plan", "Plan"),
        ("Goals", "Goals"),
        ("Risks", "Floods.\n\nEnd."),
    ]


def test_an_overlong_sentence_is_cut_at_words(tmp_path: Path) -> None:
    (tmp_path / "long.txt").write_text("word " * 120 + "end")
    chunks = chunk_document(read_document(tmp_path / "long.txt"), max_chars=100, overlap=0)
    assert len(chunks) == 7 and all(len(c.text) <= 100 for c in chunks)
    assert " ".join(c.text for c in chunks).split() == ["word"] * 120 + ["end"]


# -- compare ---------------------------------------------------------------------------------------
def _paged_pdf(path: Path, pages: list[list[str]]) -> Path:
    doc = pymupdf.open()
    for paragraphs in pages:
        page = doc.new_page()
        y = 72
        for par in paragraphs:
            height = 20 + 16 * (len(par) // 60 + 1)
            assert page.insert_textbox(pymupdf.Rect(72, y, 520, y + height), par, fontsize=11) >= 0
            y += height + 20
    doc.save(path)
    return path


def test_diff_reports_changes_with_pages(tmp_path: Path) -> None:
    old = [
        ["The budget for 2024 is ten thousand euros.", "Travel is limited to two trips."],
        ["Hardware purchases need approval.", "Reports are due every month."],
    ]
    new = [
        ["The budget for 2024 is twelve thousand euros.", "Travel is limited to two trips."],
        ["Reports are due every month.", "Interns may join the project."],
    ]
    a, b = _paged_pdf(tmp_path / "v1.pdf", old), _paged_pdf(tmp_path / "v2.pdf", new)
    diff = diff_documents(a, b)
    assert diff.of_kind("changed") == [type(diff.changes[0])("changed", 1, 1, old[0][0], new[0][0])]
    assert [(c.page_a, c.old) for c in diff.of_kind("removed")] == [(2, old[1][0])]
    assert [(c.page_b, c.new) for c in diff.of_kind("added")] == [(2, new[1][1])]
    assert 0.6 < diff.similarity < 1
    assert f"-{old[1][0]}" in diff.unified and f"+{new[1][1]}" in diff.unified
    assert "1 added, 1 removed, 1 changed" in diff.summary()
    same = diff_documents(a, read_document(a))
    assert same.identical and same.similarity == 1.0 and same.unified == ""


def test_near_duplicates_across_formats(tmp_path: Path) -> None:
    import numpy as np

    rng = np.random.default_rng(3)
    vocab = [f"w{i}" for i in range(400)]
    base = [str(w) for w in rng.choice(vocab, 400)]
    edited = list(base)
    edited[100], edited[250] = "changed", "edited"
    other = [str(w) for w in rng.choice(vocab, 400)]
    (tmp_path / "a.txt").write_text(" ".join(base))
    (tmp_path / "b.md").write_text(" ".join(edited))
    (tmp_path / "c.txt").write_text(" ".join(other))
    _paged_pdf(tmp_path / "d.pdf", [[" ".join(base[i : i + 50])] for i in range(0, 400, 50)])
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 nope")
    scanned_pdf(tmp_path / "scan.pdf")
    with pytest.warns(UserWarning):
        report = near_duplicate_documents(tmp_path, threshold=0.9)
    assert [[p.name for p in g.paths] for g in report] == [["a.txt", "b.md", "d.pdf"]]
    assert 0.9 <= report.groups[0].similarity < 1
    assert {s.path.name for s in report.skipped} == {"broken.pdf", "scan.pdf"}
    strict = near_duplicate_documents([tmp_path / "a.txt", tmp_path / "b.md"], threshold=0.99)
    assert len(strict) == 0
