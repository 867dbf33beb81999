"""Benchmark paperchain-vision against its peers, same input, same run.

- k-means colors: our Numba k-means vs scikit-learn's KMeans on the same pixels, same k, one
  k-means++ init each. scikit-learn's ``tol`` is relative (times the data's mean variance): it is
  timed both with the same absolute tolerance as ours (the fair case) and with its default.
- perceptual hashes: our aHash+dHash+pHash vs imagehash's three calls (identical results checked).
- Every case runs twice: in this process with the default thread pools (scikit-learn uses all
  cores through OpenMP/BLAS; our kernels and imagehash run in one thread), and in a child process
  with every thread pool set to one thread (OMP/OpenBLAS/MKL/Numba), the like-for-like figure.
- Numba: first-call compile time in a fresh process with an empty cache, then a second process.

    python bench/vision.py            # full run
    python bench/vision.py --quick    # smaller inputs, fewer repeats
Writes bench/results/vision.json. Needs: pip install -e 'plugins/vision[bench]'.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TESTDATA = Path(os.environ.get("PAPERCHAIN_TESTDATA", ROOT.parent / "shared" / "testdata")) / "documents"


def best_of(fns, repeats):
    """Best time of each function, the functions interleaved round by round so that all of them
    see the same background load on a shared machine (the ratios are what we compare)."""
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - start)
    return best


TOL = 1e-4  # ours: absolute, on the sum of squared center shifts (as scikit-learn's after scaling)


def bench_kmeans(pixels, k, repeats):
    from sklearn.cluster import KMeans

    from paperchain_vision.kmeans import kmeans

    kmeans(pixels[:1000], k)  # compiled (or loaded from cache) before timing
    same_tol = TOL / float(np.var(pixels, axis=0).mean())  # scikit-learn multiplies tol by this variance

    def peer(tol):
        return KMeans(n_clusters=k, n_init=1, random_state=0, tol=tol)

    ours, theirs, theirs_default = best_of([lambda: kmeans(pixels, k, seed=0, tol=TOL, backend="numba"),
                                            lambda: peer(same_tol).fit(pixels), lambda: peer(1e-4).fit(pixels)], repeats)
    mine, fitted, fitted_default = kmeans(pixels, k, seed=0, tol=TOL, backend="numba"), peer(same_tol).fit(pixels), peer(1e-4).fit(pixels)
    return {"pixels": len(pixels), "k": k, "distinct_colors": len(np.unique(pixels, axis=0)),
            "ours_s": ours, "sklearn_s": theirs, "ratio": theirs / ours,
            "sklearn_default_tol_s": theirs_default, "ratio_default_tol": theirs_default / ours,
            "iterations": mine.iterations, "sklearn_iterations": int(fitted.n_iter_),
            "sklearn_default_tol_iterations": int(fitted_default.n_iter_),
            "inertia_ratio": mine.inertia / fitted.inertia_}


def bench_hashes(label, image, repeats):
    import imagehash

    from paperchain_vision.hashes import perceptual_hashes

    def peer():
        return {"ahash": str(imagehash.average_hash(image)), "dhash": str(imagehash.dhash(image)),
                "phash": str(imagehash.phash(image))}

    assert perceptual_hashes(image) == peer(), f"hashes differ on {label}"
    ours, theirs = best_of([lambda: perceptual_hashes(image), peer], repeats)
    return {"image": label, "size": list(image.size), "ours_s": ours, "imagehash_s": theirs, "ratio": theirs / ours}


COMPILE_CODE = """
import time, numpy as np
t = time.perf_counter()
from paperchain_vision.kmeans import kmeans
from paperchain_vision.hashes import perceptual_hashes
from paperchain_vision import filters
from PIL import Image
x = np.random.default_rng(0).random((500, 3))
kmeans(x, 3, backend="numba")
perceptual_hashes(Image.new("RGB", (64, 48)))
g = np.random.default_rng(0).random((64, 64))
filters.laplacian_variance(g); filters.noise_sigma(g); filters.median_filter((g * 255).astype(np.uint8))
filters.unsharp_mask(g); filters.skew_angle(g)
print(time.perf_counter() - t)
"""


def bench_compile():
    import paperchain_vision

    package = Path(paperchain_vision.__file__).parent
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        first = float(subprocess.run([sys.executable, "-c", COMPILE_CODE], env=env, capture_output=True, text=True, check=True).stdout)
        second = float(subprocess.run([sys.executable, "-c", COMPILE_CODE], env=env, capture_output=True, text=True, check=True).stdout)
    return {"first_process_s": first, "cached_second_process_s": second, "package": str(package)}


THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


def run_cases(quick, repeats):
    from PIL import Image

    photo = np.asarray(Image.open(TESTDATA / "baiona.png").convert("RGB"), dtype=np.float64).reshape(-1, 3)
    rng = np.random.default_rng(0)
    results = {"kmeans": [], "hashes": []}
    sizes = [50_000] if quick else [50_000, 200_000]
    for n in sizes:
        pixels = photo[rng.choice(len(photo), n, replace=n > len(photo))]
        for k in (5, 8):
            results["kmeans"].append(bench_kmeans(pixels, k, repeats))

    images = [("baiona.png", Image.open(TESTDATA / "baiona.png").convert("RGB")),
              ("typewriter.png", Image.open(TESTDATA / "typewriter.png"))]
    page = Image.fromarray((rng.random((3508, 2480, 3)) * 255).astype(np.uint8))
    images.append(("A4 300 dpi RGB", page))
    if not quick:
        import pypdfium2 as pdfium

        pdf = pdfium.PdfDocument(TESTDATA / "skew.pdf")
        images.append(("skew.pdf p1 at 200 dpi", pdf[0].render(scale=200 / 72).to_pil().convert("RGB")))
    for label, image in images:
        image.load()
        results["hashes"].append(bench_hashes(label, image, repeats))
    return results


def run_single_threaded(quick, repeats):
    """The same cases in a child process whose every thread pool has one thread."""
    env = {**os.environ, **{name: "1" for name in THREAD_VARS}}
    argv = [sys.executable, __file__, "--cases-only", "--repeats", str(repeats)] + (["--quick"] if quick else [])
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def print_cases(title, cases):
    print(f"\n== {title}")
    print(f"{'k-means (same pixels, k, n_init=1)':<36}{'ours ms':>9}{'sklearn ms':>11}{'ratio':>7}"
          f"{'default-tol ms':>15}{'ratio':>7}{'iters':>10}{'inertia':>9}")
    for r in cases["kmeans"]:
        label = f"{r['pixels']:,} px ({r['distinct_colors']:,} colors), k={r['k']}"
        iters = f"{r['iterations']}/{r['sklearn_iterations']}"
        print(f"{label:<36}{r['ours_s'] * 1e3:>9.2f}{r['sklearn_s'] * 1e3:>11.1f}{r['ratio']:>6.1f}x"
              f"{r['sklearn_default_tol_s'] * 1e3:>15.1f}{r['ratio_default_tol']:>6.1f}x{iters:>10}{r['inertia_ratio']:>9.3f}")
    print(f"{'hashes (aHash+dHash+pHash)':<36}{'ours ms':>9}{'imagehash':>11}{'ratio':>7}")
    for r in cases["hashes"]:
        print(f"{r['image']:<36}{r['ours_s'] * 1e3:>9.2f}{r['imagehash_s'] * 1e3:>11.2f}{r['ratio']:>6.1f}x")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller inputs and fewer repeats")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats per case (best is kept)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "vision.json"))
    parser.add_argument("--cases-only", action="store_true", help=argparse.SUPPRESS)  # the single-thread child
    args = parser.parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 7)
    if args.cases_only:
        print(json.dumps(run_cases(args.quick, repeats)))
        return

    results = {"default_threads": run_cases(args.quick, repeats),
               "single_thread": run_single_threaded(args.quick, repeats),
               "compile": bench_compile()}
    print_cases(f"default thread pools ({os.cpu_count()} cores; scikit-learn and BLAS may use all of them)",
                results["default_threads"])
    print_cases("one thread everywhere (" + ", ".join(f"{v}=1" for v in THREAD_VARS) + ")", results["single_thread"])
    c = results["compile"]
    print(f"\nNumba: first process (compiling) {c['first_process_s']:.2f} s; second process (cache) {c['cached_second_process_s']:.2f} s")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
