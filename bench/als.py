"""ALS benchmark: paperchain-models' Numba implicit-feedback ALS against the `implicit` library (CPU).

A MovieLens-shaped synthetic set (6,000 users, 4,000 items, 1,000,000 interactions, popularity
skew on items, activity skew on users, ratings 1-5 as confidences 1 + alpha*r), 64 factors,
conjugate gradient with 3 steps in both, the same starting factors and thread count, the two
alternating (and which goes first alternating) on each repeat. Prints time per iteration (best
of the repeats), the ratio of each repeat's pair and of the bests, and both libraries' final loss
under the same definition (implicit's calculate_loss); writes bench/results/als.json.

    .venv/bin/python bench/als.py            # full size, 10 iterations, 3 repeats
    .venv/bin/python bench/als.py --quick    # 1,500 x 1,000 x 100,000, 5 iterations, 1 repeat
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

# implicit asks for a single-threaded BLAS (its own threads do the parallel work); same for us.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np


def synthetic(users: int, items: int, interactions: int, alpha: float, seed: int):
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    item_weight = 1.0 / np.arange(1, items + 1) ** 0.8
    item_weight /= item_weight.sum()
    activity = rng.lognormal(0.0, 1.0, users)
    activity /= activity.sum()
    pairs: set = set()
    rows, cols = [], []
    while len(rows) < interactions:
        need = int((interactions - len(rows)) * 1.3) + 100
        u = rng.choice(users, need, p=activity)
        i = rng.choice(items, need, p=item_weight)
        key = u.astype(np.int64) * items + i
        key = np.unique(key)
        key = key[~np.isin(key, np.fromiter(pairs, dtype=np.int64, count=len(pairs)))] if pairs else key
        key = key[: interactions - len(rows)]
        pairs.update(key.tolist())
        rows.extend((key // items).tolist())
        cols.extend((key % items).tolist())
    ratings = rng.integers(1, 6, len(rows)).astype(np.float32)
    matrix = sp.csr_matrix((1.0 + alpha * ratings, (rows, cols)), shape=(users, items), dtype=np.float32)
    matrix.sort_indices()
    return matrix


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a small set, for a smoke run")
    parser.add_argument("--iterations", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--factors", type=int, default=64)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--output", default=str(Path(__file__).parent / "results" / "als.json"))
    args = parser.parse_args()
    shape = (1500, 1000, 100_000) if args.quick else (6000, 4000, 1_000_000)
    iterations = args.iterations or (5 if args.quick else 10)
    repeats = args.repeats or (1 if args.quick else 3)
    reg, alpha = 0.05, 2.0

    import numba
    from implicit.cpu import _als as implicit_als
    from implicit.cpu.als import AlternatingLeastSquares

    from paperchain_models.recommend.als import fit_als

    numba.set_num_threads(args.threads)
    matrix = synthetic(*shape, alpha=alpha, seed=7)
    rng = np.random.default_rng(3)
    X0 = rng.random((shape[0], args.factors), dtype=np.float32) * 0.01
    Y0 = rng.random((shape[1], args.factors), dtype=np.float32) * 0.01
    fit_als(matrix.indptr, matrix.indices, matrix.data, shape[1], factors=args.factors, regularization=reg,
            iterations=1, X=X0, Y=Y0, backend="numba")  # compile (or load the cache) outside the timing

    def run_ours():
        return fit_als(matrix.indptr, matrix.indices, matrix.data, shape[1], factors=args.factors,
                       regularization=reg, iterations=iterations, cg_steps=3, X=X0, Y=Y0, backend="numba")

    def run_theirs():
        model = AlternatingLeastSquares(factors=args.factors, regularization=reg, alpha=1.0, iterations=iterations,
                                        use_cg=True, use_native=True, num_threads=args.threads,
                                        calculate_training_loss=False, random_state=0)
        model.cg_steps = 3  # its default; an attribute, not a constructor argument, in implicit 0.7
        model.user_factors, model.item_factors = X0.copy(), Y0.copy()
        model.fit(matrix, show_progress=False)
        return model

    # The two alternate, and which goes first alternates too, so a busy spell on the shared
    # machine falls on both; each repeat's pair gives one ratio.
    ours, theirs = [], []
    for repeat in range(repeats):
        for who in (("ours", "theirs") if repeat % 2 == 0 else ("theirs", "ours")):
            start = time.perf_counter()
            if who == "ours":
                X, Y = run_ours()
                ours.append((time.perf_counter() - start) / iterations)
            else:
                model = run_theirs()
                theirs.append((time.perf_counter() - start) / iterations)
    our_loss = implicit_als.calculate_loss(matrix, X, Y, reg, num_threads=args.threads)
    their_loss = implicit_als.calculate_loss(matrix, model.user_factors, model.item_factors, reg,
                                             num_threads=args.threads)
    best_ours, best_theirs = min(ours), min(theirs)
    result = {
        "shape": {"users": shape[0], "items": shape[1], "interactions": int(matrix.nnz)},
        "factors": args.factors, "iterations": iterations, "repeats": repeats, "threads": args.threads,
        "cg_steps": 3, "regularization": reg,
        "paperchain_s_per_iteration": best_ours, "implicit_s_per_iteration": best_theirs,
        "speedup": best_theirs / best_ours,
        "speedup_per_repeat": [t / o for o, t in zip(ours, theirs)],
        "paperchain_loss": float(our_loss), "implicit_loss": float(their_loss),
        "loss_difference_pct": 100.0 * abs(our_loss - their_loss) / their_loss,
        "all_runs": {"paperchain": ours, "implicit": theirs},
    }
    print(f"{'library':<22}{'s / iteration':>15}{'loss':>14}")
    print(f"{'paperchain (Numba)':<22}{best_ours:>15.4f}{our_loss:>14.6f}")
    print(f"{'implicit ' + __import__('implicit').__version__:<22}{best_theirs:>15.4f}{their_loss:>14.6f}")
    print("speed-up per repeat: " + ", ".join(f"{r:.2f}x" for r in result["speedup_per_repeat"]))
    print(f"speed-up (best vs best): {result['speedup']:.2f}x  loss difference: {result['loss_difference_pct']:.3f}%  "
          f"({shape[0]} x {shape[1]}, {matrix.nnz} interactions, {args.factors} factors, {args.threads} threads)")
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
