"""onnxruntime sessions cached per model version, and predictions with checked inputs."""

from __future__ import annotations

import locale
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np
from paperchain_sdk import InputError, Prediction

from .onnx_io import coerce_inputs
from .registry import ModelVersion, Registry
from .textnorm import normalize_text


def ensure_utf8_locale() -> None:
    """onnxruntime cannot load a converted TF-IDF model under a non-UTF-8 C locale."""
    encoding = (locale.setlocale(locale.LC_CTYPE) or "").upper()
    if "UTF-8" in encoding or "UTF8" in encoding:
        return
    for name in ("C.UTF-8", "C.utf8", "en_US.UTF-8"):
        try:
            locale.setlocale(locale.LC_CTYPE, name)
            return
        except locale.Error:
            continue


class SessionCache:
    """Least-recently-used onnxruntime sessions, keyed by the model file's SHA-256."""

    def __init__(self, *, intra_op_threads: int = 1, inter_op_threads: int = 1, size: int = 16):
        self.intra, self.inter, self.size = intra_op_threads, inter_op_threads, size
        self._sessions: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, sha256: str, path: Callable[[], Any]) -> Any:
        """The session for this file; ``path()`` says where it is when it must be loaded."""
        with self._lock:
            session = self._sessions.get(sha256)
            if session is not None:
                self._sessions.move_to_end(sha256)
                return session
        session = self._load(path())
        with self._lock:
            self._sessions[sha256] = session
            while len(self._sessions) > self.size:
                self._sessions.popitem(last=False)
        return session

    def _load(self, path):
        import onnxruntime as ort

        ensure_utf8_locale()
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.intra
        options.inter_op_num_threads = self.inter
        return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


class Predictor:
    """Predictions from registered models: batched, with probabilities when the model gives them."""

    def __init__(self, registry: Registry, sessions: SessionCache):
        self.registry, self.sessions = registry, sessions

    def run(self, version: ModelVersion, inputs: dict) -> dict[str, np.ndarray]:
        arrays = coerce_inputs(inputs, version.inputs)
        session = self.sessions.get(version.sha256, lambda: self.registry.path(version))
        try:
            values = session.run(None, arrays)
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types
            raise InputError(f"model {version.name!r} v{version.version} rejected the inputs: "
                             f"{str(exc).strip()[:300]}", hint="check the inputs against the model's declared inputs") from None
        return {o.name: v for o, v in zip(session.get_outputs(), values)}

    def predict_batch(self, version: ModelVersion, *, inputs: dict | None = None, texts: list | None = None,
                      records: list | None = None) -> list[Prediction]:
        """Predict for a batch given as raw ``inputs``, ``texts`` (text models) or ``records``
        (tabular models: dicts keyed by feature name)."""
        if texts is not None:
            inputs = {self._only_input(version): self.text_batch(version, texts)}
        elif records is not None:
            inputs = {self._only_input(version): self.record_batch(version, records)}
        elif inputs is None:
            raise InputError("nothing to predict.", hint="give inputs, texts or records")
        outputs = self.run(version, inputs)
        return self._predictions(version, outputs)

    def text_batch(self, version: ModelVersion, texts: list) -> list:
        if version.kind != "text":
            raise InputError(f"model {version.name!r} is not a text model.", hint="send its declared inputs instead")
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            raise InputError("texts must be a non-empty list of strings.", hint='send ["first text", "second"]')
        return [[normalize_text(t)] for t in texts]

    def record_batch(self, version: ModelVersion, records: list) -> list:
        features = version.training.get("features")
        if version.kind != "tabular" or not features:
            raise InputError(f"model {version.name!r} does not take records.", hint="send its declared inputs instead")
        if not isinstance(records, list) or not records or not all(isinstance(r, dict) for r in records):
            raise InputError("records must be a non-empty list of objects.", hint=f"send [{{{features[0]!r}: …}}]")
        rows = []
        for i, record in enumerate(records):
            missing = [f for f in features if f not in record]
            if missing:
                raise InputError(f"record {i} lacks the features {missing}.", hint=f"the model takes {features}")
            rows.append([record[f] for f in features])
        return rows

    def _only_input(self, version: ModelVersion) -> str:
        if len(version.inputs) != 1:
            raise InputError(f"model {version.name!r} takes {len(version.inputs)} inputs.", hint="send inputs by name")
        return version.inputs[0]["name"]

    def _predictions(self, version: ModelVersion, outputs: dict[str, np.ndarray]) -> list[Prediction]:
        labels = [str(label) for label in version.labels]
        columns = {name: _as_rows(value) for name, value in outputs.items()}  # one conversion per output
        count = len(next(iter(columns.values())))
        probs = columns.get("probabilities")
        with_probabilities = (probs is not None and labels and version.training.get("probabilities", True)
                              and outputs["probabilities"].ndim == 2 and outputs["probabilities"].shape[1] == len(labels))
        label_column = columns.get("label") if version.task != "regression" else None
        name, number = version.name, str(version.version)
        return [Prediction(label=label_column[row] if label_column is not None else None,
                           probabilities=dict(zip(labels, probs[row])) if with_probabilities else {},
                           values={key: column[row] for key, column in columns.items()},
                           model=name, version=number)
                for row in range(count)]


def _as_rows(value: Any) -> list:
    """An output as a list with one JSON-ready entry per example."""
    if isinstance(value, np.ndarray):
        return [value.item()] if value.ndim == 0 else value.tolist()
    if isinstance(value, list):  # a sequence of maps (ZipMap outputs)
        return [{str(k): float(v) for k, v in item.items()} if isinstance(item, dict) else item for item in value]
    return [value]
