"""Telling what a file really is from its first bytes, not its name."""

from __future__ import annotations

import mimetypes
import os

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"PK\x03\x04", "application/zip"),
)

# Extensions whose content we can check, and the media types the content may legitimately have.
_ZIP_BASED = {
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/zip",
}


def sniff_media_type(path: str | os.PathLike, head: bytes | None = None) -> str:
    """Media type from the file's magic bytes; ``text/plain`` for UTF-8 text.

    Falls back to ``application/octet-stream`` for anything unrecognised.
    """
    if head is None:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    for magic, media_type in _MAGIC:
        if head.startswith(magic):
            if media_type == "application/zip":
                guessed = mimetypes.guess_type(str(path))[0]
                if guessed in _ZIP_BASED:
                    return guessed
            return media_type
    if head.lstrip().startswith(b"%PDF-"):
        return "application/pdf"
    if _looks_like_text(head):
        guessed = mimetypes.guess_type(str(path))[0]
        if guessed and guessed.startswith("text/") or guessed in {"application/json", "application/xml"}:
            return guessed
        return "text/plain"
    return "application/octet-stream"


def claimed_media_type(name: str) -> str | None:
    """The media type a file's name claims (by extension), or None when it claims nothing."""
    return mimetypes.guess_type(name)[0]


def _looks_like_text(head: bytes) -> bool:
    if not head:
        return True
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut by the 4 KiB window is still text.
        return exc.start >= len(head) - 3
    return True
