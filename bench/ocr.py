"""OCR benchmark: paperchain-ocr against OCRmyPDF on the multi-page sample, and the preprocessing
kernels against scikit-image on an A4 page at 300 dpi.

    .venv/bin/python bench/ocr.py            # full run: 9 runs per kernel, 3 OCR rounds
    .venv/bin/python bench/ocr.py --quick    # 3 runs per kernel, 1 round of the first and last pages

Kernels and their peers run alternately and report medians; each OCR round runs paperchain-ocr,
OCRmyPDF and every OCRed page alone (rendered, cropped and recognized exactly as the plugin does:
the ideal is those tesseract times summed over the jobs; in the first round tesseract also reads
each whole page, for the ideal on whole pages), and the medians of the rounds are compared.
Prints tables with ratios and the per-page time breakdown, and writes bench/results/ocr.json.
Word accuracy is measured against the reference transcriptions in plugins/ocr/tests/data.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DOCUMENTS = Path(os.environ.get("PAPERCHAIN_TESTDATA", REPO.parent / "shared" / "testdata")) / "documents"
REFERENCES = REPO / "plugins" / "ocr" / "tests" / "data"
RESULTS = REPO / "bench" / "results" / "ocr.json"


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleaved_medians(ours, peer, repeats: int) -> tuple[float, float | None]:
    """Median seconds of ``ours`` and ``peer``, run alternately so that load from other processes
    on the shared machine falls on both alike."""
    ours_times, peer_times = [], []
    for _ in range(repeats):
        ours_times.append(timed(ours))
        if peer is not None:
            peer_times.append(timed(peer))
    return statistics.median(ours_times), (statistics.median(peer_times) if peer_times else None)


def page_texts_from_pdf(path) -> list[str]:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(path))
    try:
        return [pdf[i].get_textpage().get_text_bounded() for i in range(len(pdf))]
    finally:
        pdf.close()


def accuracy(pages: list[str], numbers: list[int]) -> dict:
    """F1 and recall of words on every page with a reference; ``numbers[i]`` is the original
    page number of ``pages[i]``."""
    from paperchain_ocr.accuracy import word_accuracy

    per_page, joined_ocr, joined_ref = {}, [], []
    for ref_file in sorted(REFERENCES.glob("multipage-p*.txt")):
        number = int(ref_file.stem.split("-p")[1])
        if number not in numbers:
            continue
        text = pages[numbers.index(number)]
        ref = ref_file.read_text(encoding="utf-8")
        per_page[number] = round(word_accuracy(text, ref)["f1"], 4)
        joined_ocr.append(text)
        joined_ref.append(ref)
    total = word_accuracy("\n".join(joined_ocr), "\n".join(joined_ref))
    return {"f1": round(total["f1"], 4), "recall": round(total["recall"], 4), "per_page_f1": per_page}


def bench_ocr(sample: Path, numbers: list[int], jobs: int, work: Path, rounds: int) -> dict:
    """``rounds`` rounds of: paperchain-ocr, OCRmyPDF, each page alone; medians of each, so that
    load from other processes on the shared machine falls on all three alike."""
    import paperchain_ocr
    from paperchain_ocr import searchable
    from paperchain_sdk import Document
    from paperchain_sdk.testing import check_plugin, run_component

    spec = check_plugin(paperchain_ocr)["ocr.recognize"]
    peer_pdf = work / "ocrmypdf.pdf"
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    ocrmypdf = [sys.executable, "-m", "ocrmypdf", "--skip-text", "--jobs", str(jobs), "--output-type", "pdf",
                "--image-dpi", "300", "--quiet", str(sample), str(peer_pdf)]
    ours_times, busy, cpu_ratio, peer_times, ideal_times, breakdowns, best_times = [], [], [], [], [], [], []
    for _ in range(rounds):
        start, before = time.perf_counter(), os.times()
        ours = run_component(spec, document=Document.from_path(sample), options={"jobs": jobs, "outputs": ["pdf"]})
        ours_times.append(time.perf_counter() - start)
        after = os.times()
        # CPU of this process and its tesseracts over wall time x jobs: below 1 when cores sat
        # idle (or other engineers' processes took them).
        ours_cpu = sum(after[i] - before[i] for i in range(4))
        busy.append(ours_cpu / (ours_times[-1] * jobs))
        ours_pdf = Path(ours.artifacts[0].path)
        ours_text = page_texts_from_pdf(ours_pdf)
        ours_pdf.unlink()

        start = time.perf_counter()
        done = subprocess.run(ocrmypdf, env=env, capture_output=True, text=True)
        peer_times.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise SystemExit(f"ocrmypdf failed ({done.returncode}): {done.stderr[-2000:]}")

        # The ideal: each OCRed page alone, rendered and recognized exactly as paperchain-ocr does
        # (same pypdfium2 rendering, same tesseract invocation and outputs), one after the other;
        # the tesseract times summed, divided by the jobs. The other stages are timed on the way.
        breakdown, layers = single_pages(sample, ours.outputs["page_stats"], work, whole_pages=not breakdowns)
        ideal_times.append(sum(page["tesseract_s"] for page in breakdown) / jobs)
        if not breakdowns:
            whole_ideal = sum(page["tesseract_whole_page_s"] for page in breakdown) / jobs
        # Pages cannot be split: the best any scheduler can do is the best assignment of whole
        # pages (each its render + write + tesseract time alone) to the jobs, found by trying all.
        best_times.append(best_makespan([p["render_s"] + p["crop_s"] + p["write_s"] + p["tesseract_s"] for p in breakdown], jobs))
        # Load-proof: all CPU of the run over the CPU of tesseract alone on each page (1 = no
        # work beyond tesseract's; rendering, writing and assembly make up the rest).
        cpu_ratio.append(ours_cpu / sum(page["tesseract_cpu_s"] for page in breakdown))
        breakdowns.append(breakdown)
    assembly_s = timed(lambda: searchable.build(Document.from_path(sample), "pdf", layers, None, str(work / "assembled.pdf")))
    ours_s, peer_s, ideal_s = (statistics.median(t) for t in (ours_times, peer_times, ideal_times))
    ocr_pages = ours.outputs["ocr_pages"]
    return {
        "pages": ours.outputs["pages"], "ocr_pages": ocr_pages, "jobs": jobs, "rounds": rounds,
        "paperchain_s": round(ours_s, 3), "ocrmypdf_s": round(peer_s, 3), "ideal_s": round(ideal_s, 3),
        "paperchain_pages_per_s": round(ocr_pages / ours_s, 3), "ocrmypdf_pages_per_s": round(ocr_pages / peer_s, 3),
        "speed_vs_ocrmypdf": round(peer_s / ours_s, 3), "fraction_of_ideal": round(ideal_s / ours_s, 3),
        "ideal_whole_pages_s": round(whole_ideal, 3), "fraction_of_whole_page_ideal": round(whole_ideal / ours_s, 3),
        "best_whole_page_schedule_s": round(statistics.median(best_times), 3),
        "best_schedule_fraction_of_ideal": round(ideal_s / statistics.median(best_times), 3),
        "cpu_busy_fraction": round(statistics.median(busy), 3),
        "cpu_vs_tesseract_alone": round(statistics.median(cpu_ratio), 3),
        "each_round": {"paperchain_s": [round(t, 3) for t in ours_times], "ocrmypdf_s": [round(t, 3) for t in peer_times],
                       "ideal_s": [round(t, 3) for t in ideal_times]},
        "single_pages": min(breakdowns, key=lambda rows: sum(r["tesseract_s"] for r in rows)),
        "searchable_pdf_s": round(assembly_s, 3),
        "accuracy_paperchain": accuracy(ours_text, numbers),
        "accuracy_ocrmypdf": accuracy(page_texts_from_pdf(peer_pdf), numbers),
    }


def best_makespan(times: list[float], jobs: int) -> float:
    """The shortest time in which ``jobs`` workers can finish pages of these times (exhaustive:
    the sample has a handful of pages)."""
    import itertools

    if len(times) > 12:  # too many to try every assignment: the longest-first rule instead
        loads = [0.0] * jobs
        for t in sorted(times, reverse=True):
            loads[loads.index(min(loads))] += t
        return max(loads)
    best = float("inf")
    for assignment in itertools.product(range(jobs), repeat=len(times)):
        loads = [0.0] * jobs
        for worker, t in zip(assignment, times):
            loads[worker] += t
        best = min(best, max(loads))
    return best


def _tesseract(engine, tesseract: str, image: Path, number: int):
    start, before = time.perf_counter(), os.times()
    ocr = engine.recognize_file(image, tesseract=tesseract, languages="eng", psm=3, dpi=300, timeout=600,
                                hocr=False, pdf=True, page_label=f"page {number}")
    seconds, after = time.perf_counter() - start, os.times()
    return ocr, seconds, after.children_user - before.children_user + after.children_system - before.children_system


def single_pages(sample: Path, page_stats: list[dict], work: Path, whole_pages: bool) -> tuple[list[dict], dict]:
    """Render, crop, write and recognize each OCRed page alone, as paperchain-ocr does, timing each
    stage; with ``whole_pages``, tesseract on the uncropped page too."""
    from PIL import Image

    from paperchain_ocr import crop, engine, sources
    from paperchain_sdk import Document

    engine.single_thread_environment()
    tesseract = engine.find_tesseract("tesseract")
    numbers = [stat["page"] for stat in page_stats if stat["source"] == "ocr"]
    with sources.PDFIUM_LOCK:
        doc = Document.from_path(sample)
        pdf = sources.open_pdf(doc)
    rows, layers = [], {}
    try:
        for number in numbers:
            start = time.perf_counter()
            with sources.PDFIUM_LOCK:
                pixels = sources.render_page(doc, pdf, number - 1, 300 / 72)
            render_s = time.perf_counter() - start
            start = time.perf_counter()
            region = crop.find(pixels, 300)
            crop_s = time.perf_counter() - start
            image = work / f"single-{number}.pgm"
            write_s = timed(lambda pixels=region.of(pixels), image=image: Image.fromarray(pixels).save(image))
            ocr, tesseract_s, tesseract_cpu_s = _tesseract(engine, tesseract, image, number)
            layers[number] = (ocr.text_pdf, region)
            row = {"page": number, "megapixels": round(pixels.size / 1e6, 1),
                   "cropped_megapixels": round(region.width * region.height / 1e6, 1), "render_s": round(render_s, 3),
                   "crop_s": round(crop_s, 3), "write_s": round(write_s, 3), "tesseract_s": round(tesseract_s, 3),
                   "tesseract_cpu_s": round(tesseract_cpu_s, 3)}
            if whole_pages:  # the page as rendered, uncropped: what tesseract alone would be given
                Image.fromarray(pixels).save(image)
                row["tesseract_whole_page_s"] = round(_tesseract(engine, tesseract, image, number)[1], 3)
            rows.append(row)
    finally:
        pdf.close()
    return rows, layers


def bench_kernels(repeats: int) -> dict:
    import pypdfium2 as pdfium
    from scipy import ndimage
    from skimage.color import rgb2gray
    from skimage.filters import threshold_otsu, threshold_sauvola
    from skimage.transform import rotate as sk_rotate

    from paperchain_ocr import cpu, kernels

    pdf = pdfium.PdfDocument(str(DOCUMENTS / "skew.pdf"))
    page = pdf[0].render(scale=300 / 72, grayscale=True).to_pil().resize((2480, 3508))
    pdf.close()
    gray = np.ascontiguousarray(np.asarray(page))
    rgb = np.ascontiguousarray(np.stack([gray, gray, gray], axis=-1))
    cases = {
        "grayscale": (lambda: kernels.grayscale(rgb), lambda: rgb2gray(rgb)),
        "otsu": (lambda: kernels.threshold(gray, kernels.otsu_threshold(gray)), lambda: gray > threshold_otsu(gray)),
        "sauvola": (lambda: kernels.sauvola_binarize(gray, 25, 0.2, 127.5), lambda: gray > threshold_sauvola(gray, 25, 0.2)),
        "median3x3": (lambda: kernels.median3(gray), lambda: ndimage.median_filter(gray, size=3, mode="nearest")),
        "rotate": (lambda: kernels.rotate(gray, 1.8, 255),
                   lambda: sk_rotate(gray, 1.8, order=1, mode="constant", cval=255, preserve_range=True)),
        "skew_estimate": (lambda: cpu.estimate_skew(gray, 5.0), None),
    }
    table = {}
    for name, (ours, peer) in cases.items():
        ours()  # compiled (or loaded from the cache) outside the timing
        ours_s, peer_s = interleaved_medians(ours, peer, repeats)
        row = {"numba_ms": round(ours_s * 1000, 2)}
        if peer_s is not None:
            row.update(peer_ms=round(peer_s * 1000, 2), speedup=round(peer_s / ours_s, 2))
        table[name] = row
    return table


COMPILE_PROBE = """
import time, numpy as np
start = time.perf_counter()
from paperchain_ocr import cpu, kernels
gray = np.full((64, 64), 255, np.uint8); gray[20:40, 10:50] = 0
rgb = np.stack([gray] * 3, axis=-1)
kernels.grayscale(rgb); kernels.threshold(gray, kernels.otsu_threshold(gray))
kernels.sauvola_binarize(gray, 25, 0.2, 127.5); kernels.median3(gray); kernels.rotate(gray, 1.0, 255)
cpu.estimate_skew(gray, 5.0); cpu.line_directions(gray, 5.0); cpu.upright_evidence(kernels.threshold(gray, 128))
kernels.ink_box(gray, 128); kernels.ink_runs(gray, 128); kernels.grayscale_bgr(np.dstack([rgb, gray]))
print(time.perf_counter() - start)
"""


def bench_compile() -> dict:
    """First call of every kernel in a fresh process: with the on-disk cache cleared, then cached."""
    import paperchain_ocr

    cache = Path(paperchain_ocr.__file__).parent / "__pycache__"
    for stale in list(cache.glob("kernels.*.nbi")) + list(cache.glob("kernels.*.nbc")):
        stale.unlink()
    run = lambda: float(subprocess.run([sys.executable, "-c", COMPILE_PROBE], capture_output=True, text=True, check=True).stdout)
    return {"first_process_s": round(run(), 3), "cached_process_s": round(run(), 3)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer kernel repeats, one OCR round, the first and last pages only")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="pages at once, for both tools")
    parser.add_argument("--rounds", type=int, default=None, help="OCR rounds, medians reported (default 3, quick 1)")
    parser.add_argument("--repeats", type=int, default=None, help="runs of each kernel and its peer (default 9, quick 3)")
    parser.add_argument("--skip-ocr", action="store_true", help="only the preprocessing kernels")
    args = parser.parse_args(argv)
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.repeats = args.repeats or (3 if args.quick else 9)
    if shutil.which("tesseract") is None:
        raise SystemExit("tesseract is needed: apt-get install tesseract-ocr tesseract-ocr-eng")
    results: dict = {"compile": bench_compile(), "kernels": bench_kernels(args.repeats)}
    with tempfile.TemporaryDirectory(prefix="bench-ocr-") as tmp:
        work = Path(tmp)
        if not args.skip_ocr:
            sample, numbers = DOCUMENTS / "multipage.pdf", [1, 2, 3, 4, 5, 6]
            if args.quick:
                import pypdfium2 as pdfium

                src, cut = pdfium.PdfDocument(str(sample)), pdfium.PdfDocument.new()
                cut.import_pages(src, [0, 5])
                numbers = [1, 6]
                sample = work / "multipage-quick.pdf"
                cut.save(str(sample))
                cut.close()
                src.close()
            results["ocr"] = bench_ocr(sample, numbers, args.jobs, work, args.rounds)

    print(f"Numba compile: first process {results['compile']['first_process_s']} s, "
          f"cached second process {results['compile']['cached_process_s']} s")
    print(f"\nmedians of {args.repeats} interleaved runs")
    print(f"{'kernel (A4, 300 dpi)':<22}{'numba ms':>10}{'skimage/scipy ms':>18}{'speed-up':>10}")
    for name, row in results["kernels"].items():
        print(f"{name:<22}{row['numba_ms']:>10}{row.get('peer_ms', '-'):>18}{row.get('speedup', '-'):>10}")
    if "ocr" in results:
        o = results["ocr"]
        print(f"\nOCR of {o['ocr_pages']} pages ({o['pages']} in the PDF), {o['jobs']} jobs, median of {o['rounds']} rounds")
        print(f"{'':<14}{'seconds':>9}{'pages/s':>9}{'word F1':>9}{'recall':>8}")
        print(f"{'paperchain':<14}{o['paperchain_s']:>9}{o['paperchain_pages_per_s']:>9}"
              f"{o['accuracy_paperchain']['f1']:>9}{o['accuracy_paperchain']['recall']:>8}")
        print(f"{'OCRmyPDF':<14}{o['ocrmypdf_s']:>9}{o['ocrmypdf_pages_per_s']:>9}"
              f"{o['accuracy_ocrmypdf']['f1']:>9}{o['accuracy_ocrmypdf']['recall']:>8}")
        print(f"{'ideal':<14}{o['ideal_s']:>9}   tesseract alone on each page as paperchain-ocr gives it (cropped to its ink)")
        print(f"{'whole pages':<14}{o['ideal_whole_pages_s']:>9}   the same ideal with tesseract given each whole page "
              f"(first round): {o['fraction_of_whole_page_ideal']} of it")
        print(f"{'best schedule':<14}{o['best_whole_page_schedule_s']:>9}   whole pages, each as fast as alone: "
              f"{o['best_schedule_fraction_of_ideal']} of the ideal is the most any scheduler reaches here")
        print(f"speed vs OCRmyPDF: {o['speed_vs_ocrmypdf']}x; fraction of the ideal: {o['fraction_of_ideal']}; "
              f"cores busy: {o['cpu_busy_fraction']}; "
              f"CPU of the run / CPU of tesseract alone: {o['cpu_vs_tesseract_alone']}")
        print(f"\n{'page alone':<12}{'MP':>7}{'cropped MP':>12}{'render s':>10}{'crop s':>8}{'write s':>9}"
              f"{'tesseract s':>13}{'its CPU s':>11}")
        for row in o["single_pages"]:
            print(f"{row['page']:<12}{row['megapixels']:>7}{row['cropped_megapixels']:>12}{row['render_s']:>10}"
                  f"{row['crop_s']:>8}{row['write_s']:>9}{row['tesseract_s']:>13}{row['tesseract_cpu_s']:>11}")
        print(f"searchable PDF assembly: {o['searchable_pdf_s']} s")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    print(f"\nwrote {RESULTS.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
