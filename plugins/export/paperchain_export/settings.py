"""Options of the exporters: light attrs classes, so listing plugins imports nothing heavy.

Every field has a default, so each exporter works with no options at all. Validators raise
ValueError with what was wrong and what is allowed; the SDK's settings loader turns that into a
``ConfigError`` naming the step or table it came from.
"""

from __future__ import annotations

import attrs

from paperchain_sdk.settings import between

PAGE_SIZES = ("A4", "Letter", "Legal")


def _page_size(value):
    # "a4" and "LETTER" mean what they say; keep the canonical spelling.
    if isinstance(value, str):
        for size in PAGE_SIZES:
            if value.strip().lower() == size.lower():
                return size
    return value


def _check_page_size(instance, attribute, value):
    if value not in PAGE_SIZES:
        raise ValueError(f"page_size must be one of {', '.join(PAGE_SIZES)}, got {value!r}")


def _check_delimiter(instance, attribute, value):
    if len(value) != 1 or value in '"\r\n':
        raise ValueError(
            f"delimiter must be one character other than a quote or a line break "
            f"(e.g. ',', ';' or a tab), got {value!r}"
        )


@attrs.frozen(kw_only=True)
class DocumentSettings:
    """Options every document exporter takes.

    title:            heading of the export; the document's name when empty.
    include_text:     render the document's extracted text.
    include_findings: render what analyzers found.
    """

    title: str = ""
    include_text: bool = True
    include_findings: bool = True


@attrs.frozen(kw_only=True)
class JsonSettings(DocumentSettings):
    """indent: spaces per level (0 writes one compact line)."""

    indent: int = attrs.field(default=2, validator=between(0, 8))


@attrs.frozen(kw_only=True)
class DocxSettings(DocumentSettings):
    """include_image: embed the picture when the document is an image."""

    include_image: bool = True


@attrs.frozen(kw_only=True)
class PdfSettings(DocumentSettings):
    """page_size: A4, Letter or Legal; font_size: body size in points; font_path: a TrueType font
    to use instead of the DejaVu Sans found on the system; include_image: embed image documents."""

    page_size: str = attrs.field(default="A4", converter=_page_size, validator=_check_page_size)
    font_size: float = attrs.field(default=10.0, validator=between(6, 32))
    font_path: str = ""
    include_image: bool = True


@attrs.frozen(kw_only=True)
class CsvSettings:
    """delimiter: one character between fields; escape_formulas: prefix text cells starting with
    ``= + - @`` with an apostrophe so spreadsheets do not run them as formulas."""

    delimiter: str = attrs.field(default=",", validator=_check_delimiter)
    escape_formulas: bool = True


@attrs.frozen(kw_only=True)
class BundleSettings:
    """include_originals: put each document's own file in the bundle, not only its artifacts."""

    include_originals: bool = True
