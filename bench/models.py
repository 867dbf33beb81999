"""Text classification benchmark: onnxruntime (as paperchain-models serves it) against the same
scikit-learn pipeline's ``predict``.

A TF-IDF + logistic regression pipeline is trained on a synthetic 5-label corpus, converted with
skl2onnx, and both are timed in the same run: single-document latency (p50, p99) and batch
throughput, the engines interleaved in blocks of 100 documents. Three rows: scikit-learn ``predict``, the raw onnxruntime session, and paperchain's
Predictor (text normalization + input checks + onnxruntime). Writes bench/results/models.json.

    .venv/bin/python bench/models.py           # 2,000 single calls, batches of 1,000 x 5
    .venv/bin/python bench/models.py --quick   # 300 single calls, batches of 200 x 3
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

import numpy as np

LABELS = {
    "invoice": "invoice total amount due payment vat tax bank transfer net gross customer order",
    "contract": "agreement party parties clause term signature liability law governing termination notice",
    "recipe": "flour sugar oven bake minutes egg butter salt whisk bowl dough cream",
    "report": "quarter revenue growth forecast market analysis figure table summary results",
    "letter": "dear sincerely regards thank you letter reply writing hope well meeting",
}


def corpus(per_label: int, rng: random.Random) -> tuple[list[str], list[str]]:
    filler = [f"word{i}" for i in range(3000)]
    texts, labels = [], []
    for label, words in LABELS.items():
        own = words.split()
        for _ in range(per_label):
            n = rng.randint(80, 400)
            texts.append(" ".join(rng.choice(own) if rng.random() < 0.25 else rng.choice(filler) for _ in range(n)))
            labels.append(label)
    return texts, labels


def percentiles(samples: list[float]) -> tuple[float, float]:
    array = np.asarray(samples) * 1e6
    return float(np.percentile(array, 50)), float(np.percentile(array, 99))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer calls, for a smoke run")
    parser.add_argument("--output", default=str(Path(__file__).parent / "results" / "models.json"))
    args = parser.parse_args()
    singles, batch_size, batches = (300, 200, 3) if args.quick else (2000, 1000, 5)

    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    from paperchain_models.inference import Predictor, SessionCache
    from paperchain_models.onnx_io import describe_onnx
    from paperchain_models.registry import Registry, connect
    from paperchain_models.textnorm import TOKEN_PATTERN, normalize_text
    from paperchain_models.training import _convert

    rng = random.Random(0)
    texts, labels = corpus(200, rng)
    texts = [normalize_text(t) for t in texts]
    pipeline = Pipeline([("tfidf", TfidfVectorizer(token_pattern=TOKEN_PATTERN, lowercase=False)),
                         ("classifier", LogisticRegression(max_iter=2000))]).fit(texts, labels)
    onnx_bytes = _convert(pipeline, "text", "string", 1)
    inputs, outputs = describe_onnx(onnx_bytes)

    class Blobs:  # a throw-away content store, enough for the registry
        def __init__(self, folder):
            self.folder = Path(folder)

        def put_bytes(self, data):
            import hashlib

            digest = hashlib.sha256(data).hexdigest()
            (self.folder / digest).write_bytes(data)
            return digest, len(data), self.folder / digest

        def path(self, digest):
            return self.folder / digest

    work = tempfile.TemporaryDirectory(prefix="bench-models-")
    registry = Registry(connect(Path(work.name) / "bench.db"), Blobs(work.name))
    version = registry.add("bench", onnx_bytes, kind="text", task="classification", inputs=inputs, outputs=outputs,
                           labels=[str(c) for c in pipeline.classes_], training={"probabilities": True})
    predictor = Predictor(registry, SessionCache(intra_op_threads=1, inter_op_threads=1))
    session = predictor.sessions.get(version.sha256, lambda: registry.path(version))

    test_texts, _ = corpus(max(singles, batch_size) // len(LABELS) + 1, random.Random(1))
    test_texts = [normalize_text(t) for t in test_texts]
    rng.shuffle(test_texts)
    agree = np.mean(session.run(None, {"text": np.array(test_texts[:500], dtype=object).reshape(-1, 1)})[0]
                    == pipeline.predict(test_texts[:500]))

    runners = {
        "scikit-learn predict": lambda batch: pipeline.predict(batch),
        "onnxruntime session": lambda batch: session.run(None, {"text": np.array(batch, dtype=object).reshape(-1, 1)}),
        "paperchain Predictor": lambda batch: predictor.predict_batch(version, texts=batch),
    }
    for run in runners.values():
        for text in test_texts[:20]:
            run([text])  # warm up
    # Interleaved in blocks of 100 documents (engine order rotating each round), so the other jobs
    # on a shared machine slow every engine alike; within a block the caches stay warm, as in a
    # process that serves one model.
    names = list(runners)
    latencies: dict[str, list[float]] = {name: [] for name in names}
    for round_, first in enumerate(range(0, singles, 100)):
        block = test_texts[first:min(first + 100, singles)]
        for name in names[round_ % len(names):] + names[:round_ % len(names)]:
            run = runners[name]
            for text in block:
                start = time.perf_counter()
                run([text])
                latencies[name].append(time.perf_counter() - start)
    rates: dict[str, list[float]] = {name: [] for name in names}
    batch = test_texts[:batch_size]
    for _ in range(batches):
        for name in names:
            start = time.perf_counter()
            runners[name](batch)
            rates[name].append(batch_size / (time.perf_counter() - start))
    results = {}
    for name in names:
        p50, p99 = percentiles(latencies[name])
        results[name] = {"p50_us": p50, "p99_us": p99, "docs_per_s": float(max(rates[name]))}

    base = results["scikit-learn predict"]
    print(f"{'engine':<24}{'p50 µs':>10}{'p99 µs':>10}{'docs/s (batch)':>16}{'p50 vs sklearn':>16}")
    for name, r in results.items():
        print(f"{name:<24}{r['p50_us']:>10.1f}{r['p99_us']:>10.1f}{r['docs_per_s']:>16.0f}"
              f"{base['p50_us'] / r['p50_us']:>15.1f}x")
    print(f"label agreement onnxruntime vs scikit-learn: {agree:.4f}; vocabulary {len(pipeline[0].vocabulary_)} terms; "
          f"single calls {singles}, batch {batch_size}")
    summary = {"results": results, "label_agreement": float(agree), "singles": singles, "batch_size": batch_size,
               "p50_ratio_onnxruntime": base["p50_us"] / results["onnxruntime session"]["p50_us"],
               "p50_ratio_paperchain": base["p50_us"] / results["paperchain Predictor"]["p50_us"],
               "batch_ratio_paperchain": results["paperchain Predictor"]["docs_per_s"] / base["docs_per_s"]}
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
