"""Hand-made PDFs for tests: the exact objects a case needs, with a correct cross-reference table."""

from __future__ import annotations


def pdf_from_objects(objects: list[bytes]) -> bytes:
    """A PDF from the bodies of its objects, numbered from 1 (object 1 is the catalog). Streams
    are written whole by the caller (``<< /Length n >>\\nstream\\n...\\nendstream``)."""
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)
