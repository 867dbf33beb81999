"""The ``document.text`` action: the text of a plain-text document or of a born-digital PDF.

PDFs are read with pypdfium2, imported only when a PDF is processed so that registering this
action (which imports :class:`DocumentTextSettings`) stays cheap.
"""

from __future__ import annotations

import codecs
import os
import re
import threading

import attrs

from paperchain_sdk import DocumentUpdate, InputError, MissingDependency, Result, claimed_media_type
from paperchain_sdk.contracts import Action

_PAGE_RANGE = re.compile(r"^(\d+)(?:\s*-\s*(\d*))?$")


def parse_page_ranges(spec: str) -> list[tuple[int, int | None]]:
    """``"1-3,5,8-"`` -> ``[(1, 3), (5, 5), (8, None)]`` (1-based, inclusive, None = to the end).

    Raises ValueError with a readable message on anything else.
    """
    ranges: list[tuple[int, int | None]] = []
    for part in spec.split(","):
        match = _PAGE_RANGE.match(part.strip())
        if not match:
            raise ValueError(
                f"pages {spec!r}: {part.strip()!r} is not a page or a range; "
                "write pages like '1-3,5' or '8-' (1-based)"
            )
        start = int(match[1])
        end = start if match[2] is None else (int(match[2]) if match[2] else None)
        if start < 1:
            raise ValueError(f"pages {spec!r}: pages are numbered from 1, not 0")
        if end is not None and end < start:
            raise ValueError(f"pages {spec!r}: range {start}-{end} runs backwards; write {end}-{start}")
        ranges.append((start, end))
    return ranges


def _check_pages(instance, attribute, value):
    if value.strip():
        parse_page_ranges(value)


def _check_encoding(instance, attribute, value):
    try:
        codecs.lookup(value)
    except LookupError:
        raise ValueError(f"encoding {value!r} is not an encoding Python knows (e.g. 'cp1252')") from None


def _check_max_pages(instance, attribute, value):
    if value < 1:
        raise ValueError(f"max_pages must be at least 1, got {value}")


@attrs.frozen(kw_only=True)
class DocumentTextSettings:
    """Options of ``document.text``.

    pages:       PDF pages to read, e.g. ``"1-3,5"`` or ``"2-"`` (1-based); empty for all. Ignored
                 for plain text.
    password:    the password of an encrypted PDF.
    allow_empty: succeed with empty text when a PDF has no text layer (scans) instead of failing.
    max_pages:   refuse to read more PDF pages than this in one step.
    encoding:    the encoding to try when a text document is not UTF-8 (e.g. ``"cp1252"``).
    """

    pages: str = attrs.field(default="", validator=_check_pages)
    password: str = attrs.field(default="", repr=False)  # never in logs
    allow_empty: bool = False
    max_pages: int = attrs.field(default=5000, validator=_check_max_pages)
    encoding: str = attrs.field(default="utf-8", validator=_check_encoding)


# Media types whose bytes are text, besides text/*.
_TEXT_TYPES = {
    "application/json", "application/xml", "application/yaml", "application/x-yaml",
    "application/toml", "application/javascript", "application/x-ndjson", "application/csv",
}
# (byte order mark, codec that strips it, name for messages)
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig", "UTF-8"),
    (codecs.BOM_UTF16_LE, "utf-16", "UTF-16"),
    (codecs.BOM_UTF16_BE, "utf-16", "UTF-16"),
)

# PDFium is not thread-safe, even across documents; the kernel runs this action in a process
# pool, but a lock keeps it correct if it is ever called from threads.
_PDFIUM_LOCK = threading.Lock()


class DocumentText(Action):
    """Extract the text of a plain-text or born-digital PDF document (no OCR)."""

    def run(self, ctx, inputs: DocumentTextSettings) -> Result:
        doc = ctx.document
        if doc is None:
            raise InputError(
                "document.text needs a document, but this run has none.",
                hint="start the run with a file, or use document.text only in workflows that receive one",
            )
        media_type = doc.media_type.split(";")[0].strip().lower()
        if media_type == "application/pdf":
            pages = _pdf_pages(doc, inputs)
            empty = [number for number, text in pages if not text.strip()]
            if len(empty) == len(pages) and not inputs.allow_empty:
                which = "its pages" if not inputs.pages.strip() else f"pages {inputs.pages.strip()}"
                raise InputError(
                    f"{doc.name} has no text layer in {which}: it looks scanned or holds only images.",
                    hint="add an OCR step before this one (the paperchain-ocr plugin), "
                    "or set allow_empty = true to accept empty text",
                )
            text = "\f".join(text for _, text in pages)  # a form feed keeps page boundaries
        elif _is_text(media_type, doc):
            pages, empty = [], []
            text = _normalise(_decode(doc, inputs.encoding))
        elif media_type.startswith("image/"):
            raise InputError(
                f"{doc.name} is an image ({media_type}): extracting text from images needs OCR.",
                hint="use an OCR step from the paperchain-ocr plugin instead of document.text",
            )
        else:
            raise InputError(
                f"{doc.name} is {media_type}, which document.text cannot read.",
                hint="document.text reads plain text (text/*, JSON, XML …) and PDF files; "
                "convert the document to one of those first",
            )
        # The text itself goes to the document (``${{ document.text }}``), not into the outputs:
        # stored twice it would double the database and the memory a batch needs.
        outputs = {
            "pages": len(pages),
            "characters": len(text),
            "words": len(text.split()),
            "media_type": media_type,
            "empty_pages": empty,
        }
        return Result(outputs=outputs, document=DocumentUpdate(text=text))


def _is_text(media_type: str, doc) -> bool:
    if media_type.startswith("text/") or media_type in _TEXT_TYPES or media_type.endswith(("+json", "+xml")):
        return True
    # The sniffer calls text that is not UTF-8 application/octet-stream; trust a text-like file
    # name when the bytes start with a UTF-16 byte order mark or hold no NUL (which no 8-bit
    # text encoding produces).
    claimed = claimed_media_type(doc.name) or ""
    if media_type == "application/octet-stream" and (claimed.startswith("text/") or claimed in _TEXT_TYPES):
        with doc.open() as fh:
            head = fh.read(4096)
        return head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or b"\x00" not in head
    return False


def _decode(doc, encoding: str) -> str:
    data = _read(doc)
    for bom, codec, label in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(codec)
            except UnicodeDecodeError as exc:
                what = f"starts with a {label} byte order mark but is not {label} text"
                raise _not_decodable(doc, what, exc) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if codecs.lookup(encoding).name == "utf-8":
            raise _not_decodable(doc, "is not UTF-8 text", exc) from None
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise _not_decodable(doc, f"is neither UTF-8 nor {encoding} text", exc) from None


def _read(doc) -> bytes:
    try:
        return doc.read_bytes()
    except OSError as exc:
        raise InputError(
            f"{doc.name} could not be read: {exc.strerror or exc}.",
            hint="check that the file still exists and is readable",
        ) from None


def _not_decodable(doc, what: str, exc: UnicodeDecodeError) -> InputError:
    byte = exc.object[exc.start : exc.start + 1].hex()
    return InputError(
        f"{doc.name} {what}: byte 0x{byte} at offset {exc.start} does not decode.",
        hint="set the step's encoding option to the file's real encoding (e.g. encoding = 'cp1252'), "
        "or convert the file to UTF-8",
    )


def _normalise(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _pdf_pages(doc, inputs: DocumentTextSettings) -> list[tuple[int, str]]:
    """``[(1-based page number, text)]`` for the selected pages, with every handle closed."""
    try:
        import pypdfium2 as pdfium
        import pypdfium2.raw as pdfium_c
    except ImportError:
        raise MissingDependency(
            "document.text needs pypdfium2 to read PDFs, and it is not installed.",
            hint="pip install 'pypdfium2>=4.30'",
        ) from None

    with _PDFIUM_LOCK:
        # Load through the raw API: PdfDocument() reports a zero-page PDF as a load failure with
        # a stale error code (and leaks the handle); FPDF_GetLastError is only set on failure.
        password = (inputs.password + "\x00").encode("utf-8") if inputs.password else None
        raw = pdfium_c.FPDF_LoadDocument(os.fsencode(doc.path) + b"\x00", password)
        if not raw:
            raise _load_error(doc, pdfium_c, pdfium_c.FPDF_GetLastError(), bool(inputs.password))
        with pdfium.PdfDocument(raw) as pdf:
            count = len(pdf)
            if count == 0:
                raise InputError(
                    f"{doc.name} is a PDF with no pages.",
                    hint="check how the file was produced; export or scan it again",
                )
            indices = _select_pages(doc, inputs, count)
            if len(indices) > inputs.max_pages:
                raise InputError(
                    f"{doc.name} has {len(indices)} pages to read, more than max_pages ({inputs.max_pages}).",
                    hint="read part of it with the pages option (e.g. pages = '1-100'), or raise max_pages",
                )
            return [(index + 1, _page_text(doc, pdf, index, pdfium)) for index in indices]


def _page_text(doc, pdf, index: int, pdfium) -> str:
    try:
        page = pdf[index]
        try:
            textpage = page.get_textpage()
            try:
                # get_text_bounded covers the visible page in full Unicode (get_text_range is UCS-2).
                return _normalise(textpage.get_text_bounded())
            finally:
                textpage.close()
        finally:
            page.close()
    except pdfium.PdfiumError:
        raise InputError(
            f"{doc.name}: page {index + 1} is damaged and could not be read.",
            hint="repair the PDF (e.g. `qpdf in.pdf repaired.pdf`), or skip the page with the pages option",
        ) from None


def _select_pages(doc, inputs: DocumentTextSettings, count: int) -> list[int]:
    if not inputs.pages.strip():
        return list(range(count))
    selected: set[int] = set()
    for start, end in parse_page_ranges(inputs.pages):
        last = count if end is None else end
        if max(start, last) > count:
            raise InputError(
                f"pages {inputs.pages!r} asks for page {max(start, last)}, but {doc.name} has {count} "
                f"page{'s' if count != 1 else ''}.",
                hint=f"choose pages from 1 to {count}, or write an open range like '{min(start, count)}-'",
            )
        selected.update(range(start - 1, last))
    return sorted(selected)


def _load_error(doc, pdfium_c, code: int, had_password: bool) -> InputError:
    if code == pdfium_c.FPDF_ERR_PASSWORD:
        if had_password:
            return InputError(
                f"{doc.name} is an encrypted PDF and the password given does not open it.",
                hint="check the step's password option",
            )
        return InputError(
            f"{doc.name} is an encrypted PDF and needs a password.",
            hint="set the step's password option, or remove the encryption (e.g. `qpdf --decrypt`)",
        )
    if code == pdfium_c.FPDF_ERR_SECURITY:
        return InputError(
            f"{doc.name} is encrypted with a security scheme PDFium does not support.",
            hint="remove the encryption first (e.g. `qpdf --decrypt --password=... in.pdf out.pdf`)",
        )
    if code == pdfium_c.FPDF_ERR_FILE:
        return InputError(
            f"{doc.name} could not be opened (file missing or unreadable).",
            hint="check that the file still exists and is readable",
        )
    # FPDF_ERR_FORMAT, _UNKNOWN and anything newer: the bytes are not a PDF PDFium can parse.
    return InputError(
        f"{doc.name} is not a readable PDF: it is truncated, damaged or not a PDF at all.",
        hint="check that the upload or download finished, then open and re-save or re-export the file "
        "(or repair it with `qpdf input.pdf repaired.pdf`)",
    )
