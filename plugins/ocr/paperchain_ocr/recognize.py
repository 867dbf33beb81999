"""The ``ocr.recognize`` action: text, words and confidences of every page, hOCR/TSV and a
searchable PDF.

Pages are rendered one after the other (PDFium is not thread-safe) and recognized several at a
time, the costliest waiting page first (:mod:`.schedule`): each worker thread preprocesses its
page with ``nogil`` Numba kernels, crops it to its ink (:mod:`.crop`) and runs its own
single-threaded tesseract process, so ``jobs`` pages use ``jobs`` cores.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
from pathlib import Path

from paperchain_sdk import Artifact, DocumentUpdate, InputError, Result
from paperchain_sdk.contracts import Action

from . import crop, engine, schedule, sources


def needs_preprocessing(options) -> bool:
    return options.binarize != "none" or options.deskew or options.denoise or options.orientation


def document_pages(doc, options, *, force: bool, smallest_first: bool = False):
    kind = sources.media_kind(doc)
    if kind == "pdf":
        return kind, sources.pdf_pages(doc, dpi=options.dpi, max_pixels=options.max_pixels, force=force,
                                       smallest_first=smallest_first)
    return kind, sources.image_pages(doc, dpi=options.dpi, max_pixels=options.max_pixels)


def prepare_page(page, options, folder: Path) -> tuple[Path, dict, crop.Crop]:
    """Preprocess the page if asked, crop it to its ink (unless ``crop`` is off) and write that
    where tesseract reads it (uncompressed PNM)."""
    from PIL import Image

    pixels, report = page.image, {}
    if needs_preprocessing(options):
        from .preprocess import preprocess

        pixels, report = preprocess(pixels, options, options.backend)
    region = crop.find(pixels, page.dpi) if options.crop else crop.whole_page(pixels)
    if not region.whole:
        report["cropped_to"] = [region.left, region.top, region.width, region.height]
    path = folder / f"page-{page.number:05d}.{'pgm' if pixels.ndim == 2 else 'ppm'}"
    Image.fromarray(region.of(pixels)).save(path)
    return path, report, region


class Recognize(Action):
    """OCR the run's document with tesseract."""

    def run(self, ctx, inputs) -> Result:
        doc = ctx.document
        if doc is None:
            raise InputError("ocr.recognize needs a document, but this run has none.",
                             hint="start the run with an image or PDF file")
        tesseract = engine.find_tesseract(inputs.tesseract)
        engine.check_languages(tesseract, inputs.languages)
        engine.single_thread_environment()
        jobs = inputs.jobs or os.cpu_count() or 1
        # With several workers, small pages render first so that they all get going at once.
        kind, pages = document_pages(doc, inputs, force=inputs.force, smallest_first=jobs > 1)
        folder = Path(tempfile.mkdtemp(prefix="ocr-", dir=ctx.scratch()))
        results = self._recognize_all(doc, pages, inputs, tesseract, folder, jobs)
        return self._result(doc, kind, results, inputs)

    def _recognize_all(self, doc, pages, inputs, tesseract: str, folder: Path, jobs: int) -> dict[int, tuple]:
        """Render pages here, one after the other; ``jobs`` worker threads each take the costliest
        page waiting (see :mod:`.schedule`) and recognize it. The first failure stops them all."""
        queue = schedule.PageQueue(window=jobs * 2)
        results: dict[int, tuple] = {}
        failures: dict[int, BaseException] = {}

        def recognize(page) -> tuple:
            path, report, region = prepare_page(page, inputs, folder)
            ocr = engine.recognize_file(
                path, tesseract=tesseract, languages=inputs.languages, psm=inputs.psm, dpi=page.dpi,
                timeout=inputs.timeout, hocr="hocr" in inputs.outputs, pdf="pdf" in inputs.outputs,
                page_label=f"{doc.name} page {page.number}",
            )
            path.unlink(missing_ok=True)
            return "ocr", crop.place(ocr, region), report, page.dpi

        def worker() -> None:
            while (page := queue.take()) is not None:
                try:
                    results[page.number] = recognize(page)
                except BaseException as exc:  # re-raised below, in the step's thread
                    failures[page.number] = exc
                    queue.stop()

        threads = [threading.Thread(target=worker, name=f"ocr-page-{i}", daemon=True) for i in range(jobs)]
        for thread in threads:
            thread.start()
        try:
            for page in pages:
                if page.image is None:
                    results[page.number] = ("text layer", page.text, {}, page.dpi)
                else:  # one worker takes pages in order: no estimate needed
                    queue.put(schedule.estimated_cost(page.image) if jobs > 1 else 0, page)
        except schedule.Stopped:
            pass  # a worker failed: its error is raised below
        except BaseException:
            queue.stop()
            raise
        finally:
            queue.close()
            for thread in threads:
                thread.join()
        if failures:
            raise failures[min(failures)]
        if not results:
            raise InputError(f"{doc.name} has no pages.", hint="check the file")
        return dict(sorted(results.items()))

    def _result(self, doc, kind: str, results: dict[int, tuple], inputs) -> Result:
        texts, stats, confidences, empty = [], [], [], []
        for number, (source, payload, report, dpi) in results.items():
            if source == "ocr":
                words = [w for w in payload.words if w.confidence >= 0]
                text = payload.text
                page_conf = [w.confidence for w in words]
                confidences += page_conf
                stat = {"page": number, "source": "ocr", "dpi": dpi, "words": len(words),
                        "mean_confidence": round(sum(page_conf) / len(page_conf), 2) if page_conf else None, **report}
            else:
                text = payload
                stat = {"page": number, "source": "text layer", "words": len(text.split())}
            if not text.strip():
                empty.append(number)
            texts.append(text)
            stats.append(stat)
        text = "\f".join(texts)  # a form feed keeps page boundaries, as document.text does
        ocr_pages = [n for n, r in results.items() if r[0] == "ocr"]
        words = sum(s["words"] for s in stats)
        outputs = {
            "pages": len(results),
            "ocr_pages": len(ocr_pages),
            "text_layer_pages": [n for n, r in results.items() if r[0] != "ocr"],
            "words": words,
            "characters": len(text),
            "mean_confidence": round(sum(confidences) / len(confidences), 2) if confidences else None,
            "language": inputs.languages,
            "empty_pages": empty,
            "page_stats": stats,
        }
        if words == 0:
            outputs["note"] = "no text was found on any page (blank or picture-only pages)"
        artifacts = []
        ocred = {n: r[1] for n, r in results.items() if r[0] == "ocr"}
        if "pdf" in inputs.outputs:
            artifacts.append(self._searchable_pdf(doc, kind, ocred, inputs))
        if "hocr" in inputs.outputs and ocred:
            artifacts.append(Artifact(name=f"{doc.stem}.hocr", media_type="text/vnd.hocr+html",
                                      data=merge_hocr({n: o.hocr for n, o in ocred.items()}).encode("utf-8")))
        if "tsv" in inputs.outputs and ocred:
            artifacts.append(Artifact(name=f"{doc.stem}.tsv", media_type="text/tab-separated-values",
                                      data=merge_tsv({n: o.tsv for n, o in ocred.items()}).encode("utf-8")))
        return Result(outputs=outputs, artifacts=artifacts, document=DocumentUpdate(text=text))

    def _searchable_pdf(self, doc, kind, ocred, inputs) -> Artifact:
        from . import searchable

        fd, out_path = tempfile.mkstemp(prefix="paperchain-ocr-", suffix=".pdf")
        os.close(fd)
        try:
            images = None
            if kind != "pdf":
                images = ((p.number, p.image, p.dpi) for p in
                          sources.image_pages(doc, dpi=inputs.dpi, max_pixels=inputs.max_pixels))
            searchable.build(doc, kind, {n: (o.text_pdf, o.crop) for n, o in ocred.items()}, images, out_path)
        except BaseException:
            os.unlink(out_path)
            raise
        return Artifact(name=f"{doc.stem}.searchable.pdf", media_type="application/pdf", path=out_path,
                        metadata={"pages_with_ocr_text": sorted(ocred)})


_HOCR_IDS = re.compile(r"""(id=['"](?:page|block|par|line|word|carea)_)1(?=[_'"])""")


def merge_hocr(pages: dict[int, bytes]) -> str:
    """One hOCR document from tesseract's per-page ones, with page numbers in ids and titles."""
    head = tail = ""
    bodies = []
    for number, data in sorted(pages.items()):
        html = data.decode("utf-8")
        start, end = html.index("<body>") + len("<body>"), html.rindex("</body>")
        head, tail = head or html[:start], html[end:]
        body = _HOCR_IDS.sub(lambda m, number=number: f"{m[1]}{number}", html[start:end])
        bodies.append(body.replace("ppageno 0", f"ppageno {number - 1}"))
    return head + "".join(bodies) + tail


def merge_tsv(pages: dict[int, str]) -> str:
    """One TSV from tesseract's per-page ones, ``page_num`` set to the document's page number."""
    lines = []
    for number, tsv in sorted(pages.items()):
        rows = tsv.splitlines()
        if not lines:
            lines.append(rows[0])
        for row in rows[1:]:
            cells = row.split("\t")
            if len(cells) > 1:
                cells[1] = str(number)
            lines.append("\t".join(cells))
    return "\n".join(lines) + "\n"
