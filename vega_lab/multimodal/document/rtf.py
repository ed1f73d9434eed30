"""RTF to paragraphs, headings and tables with no dependency: a small tokenizer and group stack.

Why our own: no RTF library is installed, and text extraction needs only a fraction of the
spec. What it handles: groups and their state; control words and symbols (with the one space
that ends a control word); ``\\par``/``\\line``/``\\tab``/``\\page``; ``\\'hh`` bytes decoded in
the current code page (``\\ansicpg``, or the font's ``\\fcharset``); ``\\uN`` Unicode (negative
values and surrogate pairs) with its ``\\ucN`` fallback characters skipped; ``\\bin``; tables
(``\\cell``/``\\row``); headings from ``\\outlinelevelN`` or a stylesheet name "heading N";
the title from ``\\info``. Skipped: font/color tables, stylesheet text, pictures, objects,
headers/footers, field instructions (the field *result* is kept) and every ``\\*`` destination.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from vega_lab.multimodal.document.structure import Block, Table

__all__ = ["RtfContent", "parse_rtf", "rtf_to_text"]

_TOKEN = re.compile(
    rb"\\([a-zA-Z]{1,32})(-?\d{1,10})? ?"  # control word, optional parameter, eaten space
    rb"|\\'([0-9a-fA-F]{2})"  # hex byte
    rb"|\\([^a-zA-Z'])"  # control symbol
    rb"|([{}])"
    rb"|[\r\n]+"  # line breaks in the source mean nothing
    rb"|([^\\{}\r\n]+)",  # plain text
    re.S,
)
_SKIP = {
    "fonttbl", "colortbl", "pict", "object", "header", "headerl", "headerr", "headerf",
    "footer", "footerl", "footerr", "footerf", "fldinst", "themedata", "colorschememapping",
    "datastore", "latentstyles", "listtable", "listoverridetable", "revtbl", "rsidtbl",
    "generator", "xmlnstbl", "filetbl", "private", "userprops", "nonshppict", "objdata",
    "fontemb", "fontfile", "pgdsctbl", "mmathPr", "xe", "tc", "txe", "buptim", "operator",
}  # fmt: skip
_INFO_FIELDS = {"title", "subject", "author", "keywords", "company"}
_SYMBOLS = {
    "emdash": "\u2014", "endash": "\u2013", "bullet": "\u2022", "lquote": "\u2018",
    "rquote": "\u2019", "ldblquote": "\u201c", "rdblquote": "\u201d", "tab": "\t",
    "line": "\n", "emspace": " ", "enspace": " ", "qmspace": " ", "zwj": "", "zwnj": "",
}  # fmt: skip
_CHARSETS = {
    77: "mac_roman", 128: "cp932", 129: "cp949", 134: "gbk", 136: "cp950", 161: "cp1253",
    162: "cp1254", 163: "cp1258", 177: "cp1255", 178: "cp1256", 186: "cp1257", 204: "cp1251",
    222: "cp874", 238: "cp1250",
}  # fmt: skip
_HEADING_STYLE = re.compile(r"^\s*heading\s*(\d)", re.I)


@dataclass
class RtfContent:
    """Pages (split at ``\\page``) of blocks in order; tables also appear as "table" blocks."""

    pages: list[list[Block]] = field(default_factory=lambda: [[]])
    tables: list[list[Table]] = field(default_factory=lambda: [[]])
    info: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n\n".join(b.text for page in self.pages for b in page)


@dataclass
class _State:
    skip: bool = False
    uc: int = 1
    codepage: str = "cp1252"
    dest: str | None = None  # "stylesheet", "style", "fonttbl", "font", an info field
    fresh: bool = True  # no token seen yet in this group: a destination word may come


class _Parser:
    def __init__(self) -> None:
        self.out = RtfContent()
        self.state = _State()
        self.stack: list[_State] = []
        self.ansi = "cp1252"
        self.fonts: dict[int, str] = {}
        self.styles: dict[int, str] = {0: "Normal"}
        self.buf: list[str] = []  # current paragraph or cell
        self.bytes = bytearray()  # \'hh run waiting to be decoded together (multi-byte pages)
        self.ucskip = 0
        self.style = 0
        self.outline: int | None = None
        self.intbl = False
        self.row: list[str] = []
        self.rows: list[list[str]] = []
        self.capture: list[str] = []  # text of the stylesheet entry, font name or info field
        self.pending_num: int | None = None  # \sN / \fN seen in the current stylesheet/font

    # -- output -------------------------------------------------------------------------------
    def emit(self, text: str) -> None:
        if self.ucskip:
            take = min(self.ucskip, len(text))
            self.ucskip -= take
            text = text[take:]
        if not text:
            return
        if self.state.dest in ("style", "font") or self.state.dest in _INFO_FIELDS:
            self.capture.append(text)
        elif not self.state.skip:
            self.buf.append(text)

    def flush_bytes(self) -> None:
        if self.bytes:
            data, self.bytes = bytes(self.bytes), bytearray()
            try:
                self.emit(data.decode(self.state.codepage, errors="replace"))
            except LookupError:
                self.emit(data.decode("cp1252", errors="replace"))

    def take(self) -> str:
        text = "".join(self.buf)
        self.buf = []
        return _clean(text)

    def close_table(self) -> None:
        if self.row:
            self.rows.append(self.row)
            self.row = []
        if self.rows:
            table = Table(rows=self.rows)
            self.out.tables[-1].append(table)
            self.out.pages[-1].append(Block(table.as_text(), kind="table"))
            self.rows = []

    def paragraph(self) -> None:
        if self.intbl:
            self.buf.append("\n")  # a paragraph inside a table cell
            return
        self.close_table()
        text = self.take()
        if not text:
            return
        level = None if self.outline is None else self.outline + 1
        if level is None and (m := _HEADING_STYLE.match(self.styles.get(self.style, ""))):
            level = int(m.group(1))
        if level is None and self.styles.get(self.style, "").strip().lower() == "title":
            level = 1
        kind = "heading" if level is not None else "text"
        self.out.pages[-1].append(Block(text, kind=kind, level=level))

    # -- tokens -------------------------------------------------------------------------------
    def open_group(self) -> None:
        self.flush_bytes()
        self.stack.append(self.state)
        s = self.state
        self.state = _State(skip=s.skip, uc=s.uc, codepage=s.codepage, dest=s.dest)
        if s.dest == "stylesheet":
            self.state.dest, self.capture, self.pending_num = "style", [], None
        elif s.dest == "fonttbl":
            self.state.dest, self.capture, self.pending_num = "font", [], None
        self.ucskip = 0

    def close_group(self) -> None:
        self.flush_bytes()
        if not self.stack:
            self.out.warnings.append("unbalanced '}' in the RTF: text after it may be lost")
            return
        s, parent = self.state, self.stack[-1]
        name = "".join(self.capture).split(";")[0].strip()
        if s.dest == "style" and self.pending_num is not None and parent.dest != "style":
            self.styles[self.pending_num] = name
        if s.dest in _INFO_FIELDS and parent.dest != s.dest:
            self.out.info[s.dest] = _clean(name if s.dest != "title" else "".join(self.capture))
        self.state = self.stack.pop()
        self.ucskip = 0

    def destination(self, word: str) -> bool:
        """Handle the first control word of a group; True if it started a destination."""
        s = self.state
        if word == "stylesheet":
            s.dest, s.skip = "stylesheet", True
        elif word == "fonttbl":
            s.dest, s.skip = "fonttbl", True
        elif word == "info":
            s.dest, s.skip = "info", True
        elif s.dest == "info" and word in _INFO_FIELDS:
            s.dest, self.capture = word, []
        elif word in _SKIP or s.dest == "info":
            s.skip, s.dest = True, None
        else:
            return False
        return True

    def word(self, word: str, arg: int | None) -> None:
        s = self.state
        if s.fresh and self.destination(word):
            return
        if word == "bin":  # handled by the tokenizer loop (it skips the bytes)
            return
        if s.dest in ("style", "font"):
            if word == {"style": "s", "font": "f"}[s.dest] and arg is not None:
                self.pending_num = arg  # the style's or font's number (not a font in a style)
            elif word == "fcharset" and arg in _CHARSETS and self.pending_num is not None:
                self.fonts[self.pending_num] = _CHARSETS[arg]
            elif word in ("cs", "ds", "ts"):
                self.pending_num = None  # character/section/table styles: not paragraph ones
            return
        if word == "ansicpg" and arg:
            self.ansi = s.codepage = f"cp{arg}"
        elif word in ("mac", "pc", "pca"):
            self.ansi = s.codepage = {"mac": "mac_roman", "pc": "cp437", "pca": "cp850"}[word]
        elif word == "f" and arg is not None:
            s.codepage = self.fonts.get(arg, self.ansi)
        elif word == "uc" and arg is not None:
            s.uc = max(0, arg)
        elif word == "u" and arg is not None:
            self.emit(chr(arg + 65536 if arg < 0 else arg))
            self.ucskip = s.uc
            return
        elif word in ("par", "sect"):
            self.paragraph()
        elif word == "page":
            self.paragraph()
            self.close_table()
            self.out.pages.append([])
            self.out.tables.append([])
        elif word == "pard":
            self.style, self.outline, self.intbl = 0, None, False
        elif word == "s" and arg is not None:
            self.style = arg
        elif word == "outlinelevel" and arg is not None:
            self.outline = arg if 0 <= arg < 9 else None
        elif word == "intbl":
            self.intbl = True
        elif word in ("cell", "nestcell"):
            self.row.append(self.take())
        elif word in ("row", "nestrow"):
            self.rows.append(self.row)
            self.row = []
            self.intbl = False
        elif word in _SYMBOLS:
            self.emit(_SYMBOLS[word])

    def symbol(self, char: str) -> None:
        if char == "*":
            if self.state.fresh:
                self.state.skip, self.state.dest = True, None
            return
        if char in "\\{}":
            self.emit(char)
        elif char == "~":
            self.emit("\u00a0")
        elif char == "_":
            self.emit("\u2011")
        elif char in "\r\n":
            self.paragraph()
        # "\-" (optional hyphen), "\:" (index subentry) and unknown symbols print nothing

    def run(self, data: bytes) -> RtfContent:
        pos, end = 0, len(data)
        while pos < end:
            m = _TOKEN.match(data, pos)
            if m is None:  # a lone backslash at the very end
                break
            pos = m.end()
            word, arg, hexbyte, sym, brace, text = m.groups()
            if hexbyte is not None:
                if self.ucskip:
                    self.ucskip -= 1
                else:
                    self.bytes.append(int(hexbyte, 16))
                self.state.fresh = False
                continue
            self.flush_bytes()
            if word is not None:
                name = word.decode("ascii")
                number = int(arg) if arg is not None else None
                if name == "bin" and number:
                    pos += number
                self.word(name, number)
            elif sym is not None:
                self.symbol(sym.decode("latin-1"))
            elif brace == b"{":
                self.open_group()
                continue
            elif brace == b"}":
                self.close_group()
            elif text is not None:
                if any(b > 127 for b in text):  # raw 8-bit text is in the code page too
                    self.bytes.extend(text)
                    self.flush_bytes()
                else:
                    self.emit(text.decode("ascii"))
            self.state.fresh = False
        self.flush_bytes()
        if self.stack:
            self.out.warnings.append("the RTF ends inside an open group: it may be truncated")
        if self.intbl and self.buf:  # a cell cut off before its \cell
            self.row.append(self.take())
        self.intbl = False
        self.paragraph()  # closes an open table first, then the last paragraph
        self.close_table()
        return self.out


def _clean(text: str) -> str:
    """Join surrogate pairs written as two ``\\u``, tidy spaces around line breaks."""
    text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    text = re.sub(r"[ \t]+\n", "\n", text.replace("\u00a0", " "))
    return text.strip("\n").rstrip() if text.strip() else ""  # keep indentation (code)


def parse_rtf(data: bytes) -> RtfContent:
    """Parse RTF bytes; raises ``ValueError`` if they are not RTF at all."""
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head.startswith(b"{\\rtf"):
        raise ValueError("the file does not start with {\\rtf")
    return _Parser().run(head)


def rtf_to_text(data: bytes | str) -> str:
    """Plain text of an RTF document, paragraphs separated by blank lines."""
    raw = data.encode("latin-1", "replace") if isinstance(data, str) else data
    return parse_rtf(raw).text
