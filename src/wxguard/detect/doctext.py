"""The readable text of a document registered as confidential (its shingles come from it).

Read by content, not by file name: plain text (UTF-8 or GB18030); Office Open XML —
Word ``.docx``, Excel ``.xlsx`` (rows in sheet order, shared strings resolved, cells
separated by tabs, so a row pasted into chat lines up with the registered text), and
PowerPoint ``.pptx`` (slides in order) — read from their XML parts with no Office
installed; and PDF with a text layer (``pypdf``). Anything else is registered by md5
alone and :attr:`DocumentText.note` says why: legacy binary Office files (``.doc``,
``.xls``, ``.ppt``) and password-protected Office files (both are OLE containers),
images, scanned PDFs without a text layer, PDFs that need a password, damaged files.

The XML parts are read with regular expressions over their text, never an XML parser
with entity expansion, and every zip member and the text kept are capped, so a
hostile document costs bounded time and memory.
"""

from __future__ import annotations

import html
import logging
import re
import zipfile
from dataclasses import dataclass
from io import BytesIO

MAX_PART = 64 << 20  # uncompressed bytes of one zip member read
MAX_UNPACKED = 256 << 20  # uncompressed bytes of all members read from one file
MAX_TEXT = 16 << 20  # characters of text kept

_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy .doc/.xls/.ppt (Compound File)
_ZIP = b"PK\x03\x04"

# Word: text runs, tabs and paragraph ends; PowerPoint: text runs and paragraph ends.
_DOCX = re.compile(r"<w:t(?:\s[^>]*)?>([^<]*)</w:t>|<w:tab/>|(</w:p>)")
_PPTX = re.compile(r"<a:t(?:\s[^>]*)?>([^<]*)</a:t>|(</a:p>)")
# Excel: one shared string (rich text has several runs), rows, cells and their parts.
_SI = re.compile(r"<si>(.*?)</si>", re.S)
_T = re.compile(r"<t(?:\s[^>]*)?>([^<]*)</t>")
_ROW = re.compile(r"<row\b[^>]*?(?:/>|>(.*?)</row>)", re.S)
_CELL = re.compile(r"<c\b([^>]*?)(?:/>|>(.*?)</c>)", re.S)
_CELL_TYPE = re.compile(r'\bt="([^"]*)"')
_V = re.compile(r"<v>([^<]*)</v>")
_NUMBERED = re.compile(r"(\d+)\.xml$")


@dataclass(frozen=True)
class DocumentText:
    text: str
    kind: str  # text, docx, xlsx, pptx, pdf; "" when nothing was read
    note: str = ""  # why there is no text, when there is none


def read_document(data: bytes) -> DocumentText:
    """The text of a document's bytes, or none and why."""
    if data.startswith(b"%PDF-"):
        return _pdf(data)
    if data.startswith(_ZIP):
        return _office(data)
    if data.startswith(_OLE):
        return _none(
            "a legacy binary Office file (.doc/.xls/.ppt) or a password-protected one: "
            "save it unprotected as .docx/.xlsx/.pptx to fingerprint its text"
        )
    for enc in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(enc)
        except UnicodeDecodeError:
            continue
        if "\x00" not in text:
            return DocumentText(text[:MAX_TEXT], "text")
    return _none("not text, PDF or an Office Open XML file (an image or another binary kind)")


def _none(note: str) -> DocumentText:
    return DocumentText("", "", note)


def _kept(text: str, kind: str, empty_note: str) -> DocumentText:
    if not text.strip():
        return _none(empty_note)
    return DocumentText(text[:MAX_TEXT], kind)


# --------------------------------------------------------------------------- Office


def _office(data: bytes) -> DocumentText:
    try:
        with zipfile.ZipFile(BytesIO(data)) as zf:
            z = _Parts(zf)
            names = set(zf.namelist())
            if "word/document.xml" in names:
                return _kept(_docx(z), "docx", "a Word document with no text")
            if "xl/workbook.xml" in names:
                return _kept(_xlsx(z, names), "xlsx", "a spreadsheet with no text")
            if "ppt/presentation.xml" in names:
                return _kept(_pptx(z, names), "pptx", "a presentation with no text")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as e:
        return _none(f"a damaged zip/Office file ({e})")
    except (NotImplementedError, RuntimeError) as e:  # unsupported compression, encrypted member
        return _none(f"an Office file wxguard cannot unpack ({e})")
    except _TooLarge as e:
        return _none(str(e))
    return _none("a zip archive that is not a Word, Excel or PowerPoint file")


class _TooLarge(Exception):
    pass


class _Parts:
    """Members of one zip, read within :data:`MAX_PART` each and :data:`MAX_UNPACKED` in
    all (zipfile stops at a member's declared size, so the declaration bounds the work)."""

    def __init__(self, z: zipfile.ZipFile) -> None:
        self.z = z
        self.left = MAX_UNPACKED

    def text(self, member: str) -> str:
        info = self.z.getinfo(member)
        if info.file_size > MAX_PART:
            raise _TooLarge(f"{member} unpacks to {info.file_size:,} bytes (limit {MAX_PART:,})")
        if info.file_size > self.left:
            raise _TooLarge(f"its parts unpack to more than {MAX_UNPACKED:,} bytes")
        self.left -= info.file_size
        return self.z.read(info).decode("utf-8", "replace")


def _numbered(names: set[str], prefix: str) -> list[str]:
    """``prefix<N>.xml`` members in numeric order (slide2 before slide10)."""
    found = []
    for n in names:
        if n.startswith(prefix) and "/" not in n[len(prefix) :]:
            m = _NUMBERED.search(n)
            if m:
                found.append((int(m.group(1)), n))
    return [n for _, n in sorted(found)]


def _runs(xml: str, rx: re.Pattern[str]) -> str:
    out = []
    for m in rx.finditer(xml):
        if m.group(1) is not None:
            out.append(html.unescape(m.group(1)))
        else:
            out.append("\n" if m.group(2) else "\t")
    return "".join(out)


def _docx(z: _Parts) -> str:
    return _runs(z.text("word/document.xml"), _DOCX)


def _pptx(z: _Parts, names: set[str]) -> str:
    return "\n".join(_runs(z.text(s), _PPTX) for s in _numbered(names, "ppt/slides/slide"))


def _xlsx(z: _Parts, names: set[str]) -> str:
    shared: list[str] = []
    if "xl/sharedStrings.xml" in names:
        for si in _SI.finditer(z.text("xl/sharedStrings.xml")):
            shared.append(html.unescape("".join(_T.findall(si.group(1)))))
    lines = []
    for sheet in _numbered(names, "xl/worksheets/sheet"):
        for row in _ROW.finditer(z.text(sheet)):
            cells = []
            for c in _CELL.finditer(row.group(1) or ""):
                cells.append(_cell(c.group(1), c.group(2) or "", shared))
            if any(cells):
                lines.append("\t".join(cells))
    return "\n".join(lines)


def _cell(attrs: str, body: str, shared: list[str]) -> str:
    t = _CELL_TYPE.search(attrs)
    kind = t.group(1) if t else "n"
    if kind == "inlineStr":
        return html.unescape("".join(_T.findall(body)))
    v = _V.search(body)
    if v is None:
        return ""
    value = html.unescape(v.group(1))
    if kind == "s":
        try:
            return shared[int(value)]
        except (ValueError, IndexError):
            return ""
    return value  # numbers as stored, formula results, booleans


# --------------------------------------------------------------------------- PDF


def _pdf(data: bytes) -> DocumentText:
    # Imported here: only registering a PDF needs it (the detector loads on every scan).
    import pypdf
    from pypdf.errors import FileNotDecryptedError, PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # its warnings are about layout
    try:
        reader = pypdf.PdfReader(BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            return _none("a password-protected PDF: register a copy without the password")
        parts: list[str] = []
        size = 0
        for page in reader.pages:
            text = page.extract_text() or ""
            parts.append(text)
            size += len(text)
            if size >= MAX_TEXT:
                break
    except FileNotDecryptedError:
        return _none("a password-protected PDF: register a copy without the password")
    except PdfReadError as e:
        return _none(f"a damaged PDF ({e})")
    except Exception as e:  # a third-party parser on untrusted input: any failure
        return _none(f"a PDF wxguard cannot read ({type(e).__name__}: {e})")
    return _kept("\n".join(parts), "pdf", "a PDF with no text layer (scanned?)")
