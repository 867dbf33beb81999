"""Paperchain vision: image analyzers (colors, quality, perceptual hashes, faces) and enhancement.

This module is what the ``paperchain`` entry point loads, so it stays light: implementations are
named by import string; NumPy, Numba, scikit-image, pypdfium2 and aiohttp load on first use.
"""

from __future__ import annotations

from paperchain_sdk import ActionSpec, AnalyzerSpec, hookimpl

from .settings import ColorsSettings, EnhanceSettings, FacesSettings, HashesSettings, QualitySettings

__version__ = "0.1.0"

HASHES = "vision.hashes"


@hookimpl
def paperchain_analyzers():
    return [
        AnalyzerSpec(name="vision.colors", impl="paperchain_vision.colors:ColorsAnalyzer", settings=ColorsSettings,
                     summary="Dominant colors of each page (k-means++ and Lloyd as Numba kernels)", cpu_bound=True,
                     deterministic=True),
        AnalyzerSpec(name="vision.quality", impl="paperchain_vision.quality:QualityAnalyzer", settings=QualitySettings,
                     summary="Blur (Laplacian variance), contrast, noise, skew angle and resolution of each page",
                     cpu_bound=True, deterministic=True),
        AnalyzerSpec(name=HASHES, impl="paperchain_vision.hashing:HashesAnalyzer", settings=HashesSettings,
                     summary="aHash, dHash, pHash of each page, identical to imagehash's; indexed for similar images",
                     cpu_bound=True, deterministic=True),
        AnalyzerSpec(name="vision.faces", impl="paperchain_vision.faces:FacesAnalyzer", settings=FacesSettings,
                     summary="Frontal faces with scikit-image's trained LBP cascade", cpu_bound=True,
                     deterministic=True),
    ]


@hookimpl
def paperchain_actions():
    return [
        ActionSpec(name="vision.enhance", impl="paperchain_vision.enhance:EnhanceAction", settings=EnhanceSettings,
                   summary="Contrast stretch, denoise, sharpen, deskew: a new PNG artifact per page", cpu_bound=True,
                   deterministic=True),
    ]


@hookimpl
def paperchain_routes(kernel):
    # module-level handlers; they find the kernel with kernel_of(request)
    from .web import routes

    return list(routes)


@hookimpl
async def paperchain_event(event, kernel):
    # When a run ends, index the hashes its vision.hashes step found (the analyzer stays pure).
    if event.type not in ("run.succeeded", "run.failed") or not event.data.get("document"):
        return
    try:
        doc = await kernel.documents.get(event.data["document"], text=False)
    except Exception:  # noqa: BLE001 - a deleted document has nothing to index
        return
    findings = doc.findings.get(HASHES)
    if findings:
        from .index import HashIndex

        await HashIndex(kernel).add(doc.id, findings)


@hookimpl
def paperchain_ui(kernel):
    from .ui import plugin_ui

    return plugin_ui()
