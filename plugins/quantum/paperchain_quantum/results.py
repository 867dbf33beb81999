"""Readable results: counts histogram as a PNG (Pillow), the circuit as SVG where cirq can draw it."""

from __future__ import annotations

import io


def histogram_png(counts: dict[str, int], title: str = "", top: int = 16) -> bytes:
    """A bar chart of the ``top`` most frequent outcomes."""
    from PIL import Image, ImageDraw

    items = sorted(counts.items(), key=lambda kv: -kv[1])[:top] or [("-", 0)]
    width, height, margin = 80 + 48 * len(items), 320, 40
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    draw.text((margin, 8), title or "counts", fill="black")
    peak = max(v for _, v in items) or 1
    for i, (label, value) in enumerate(items):
        x = margin + 48 * i
        bar = int((height - 2 * margin - 30) * value / peak)
        draw.rectangle([x, height - margin - bar, x + 36, height - margin], fill=(52, 101, 164))
        draw.text((x, height - margin - bar - 12), str(value), fill="black")
        draw.text((x, height - margin + 4), label[-8:], fill="black")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def circuit_svg(circuit) -> str | None:
    """The circuit as SVG through cirq.contrib.svg; None when it cannot draw it (e.g. custom gates)."""
    try:
        from cirq.contrib.svg import circuit_to_svg

        return circuit_to_svg(circuit)
    except Exception:  # noqa: BLE001 - the contrib drawer refuses some gates; the text drawing remains
        return None
