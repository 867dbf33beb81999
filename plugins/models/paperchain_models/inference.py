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
from .textnorm import fold_text


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
        session = self._session(version)
        return dict(zip(self._output_names(session), self._run_session(version, session, arrays)))

    def predict_batch(self, version: ModelVersion, *, inputs: dict | None = None, texts: list | None = None,
                      records: list | None = None) -> list[Prediction]:
        """Predict for a batch given as raw ``inputs``, ``texts`` (text models) or ``records``
        (tabular models: dicts keyed by feature name)."""
        if texts is not None:
            return self._predict_texts(version, texts)
        if records is not None:
            inputs = {self._only_input(version): self.record_batch(version, records)}
        elif inputs is None:
            raise InputError("nothing to predict.", hint="give inputs, texts or records")
        outputs = self.run(version, inputs)
        return self._predictions(version, outputs)

    def _predict_texts(self, version: ModelVersion, texts: list) -> list[Prediction]:
        """The serving hot path (``models.classify``, the predict API). The texts are checked and
        folded already, so when the model declares one string input [N, 1] or [N] (``_text_rank``)
        the call builds that array directly instead of going through ``coerce_inputs``."""
        normalized = self.normalized_texts(version, texts)
        rank = _text_rank(version.inputs[0]) if len(version.inputs) == 1 else None
        if rank is None:  # an unusual declaration: the generic checks explain what does not fit
            rows = [[text] for text in normalized]
            return self._predictions(version, self.run(version, {self._only_input(version): rows}))
        array = np.array(normalized, dtype=object)
        if rank == 2:
            array = array.reshape(-1, 1)
        session = self._session(version)
        values = self._run_session(version, session, {version.inputs[0]["name"]: array})
        return self._predictions(version, dict(zip(self._output_names(session), values)))

    def _session(self, version: ModelVersion):
        return self.sessions.get(version.sha256, lambda: self.registry.path(version))

    @staticmethod
    def _output_names(session) -> list[str]:
        return [o.name for o in session.get_outputs()]

    @staticmethod
    def _run_session(version: ModelVersion, session, arrays: dict) -> list:
        try:
            return session.run(None, arrays)
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types
            raise InputError(f"model {version.name!r} v{version.version} rejected the inputs: "
                             f"{str(exc).strip()[:300]}", hint="check the inputs against the model's declared inputs") from None

    def normalized_texts(self, version: ModelVersion, texts: list) -> list[str]:
        if version.kind != "text":
            raise InputError(f"model {version.name!r} is not a text model.", hint="send its declared inputs instead")
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            raise InputError("texts must be a non-empty list of strings.", hint='send ["first text", "second"]')
        return [fold_text(t) for t in texts]  # the tokens of normalize_text, in one pass

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
        name, number = version.name, str(version.version)
        scores = outputs.get("probabilities")
        with_probabilities = (scores is not None and labels and version.training.get("probabilities", True)
                              and isinstance(scores, np.ndarray) and scores.ndim == 2 and scores.shape[1] == len(labels))
        if with_probabilities and version.task != "regression" and len(outputs) == 2 and _is_column(outputs.get("label")):
            # A classifier's usual outputs (label, probability tensor): the same records as below,
            # built without the generic per-output loop, since this runs on every classified document.
            keys = list(outputs)
            return [Prediction(label=label, probabilities=dict(zip(labels, row)),
                               values=dict(zip(keys, (label, row) if keys[0] == "label" else (row, label))),
                               model=name, version=number)
                    for label, row in zip(outputs["label"].tolist(), scores.tolist())]
        columns = {key: _as_rows(value) for key, value in outputs.items()}  # one conversion per output
        probs = columns.get("probabilities")
        label_column = columns.get("label") if version.task != "regression" else None
        return [Prediction(label=label_column[row] if label_column is not None else None,
                           probabilities=dict(zip(labels, probs[row])) if with_probabilities else {},
                           values={key: column[row] for key, column in columns.items()},
                           model=name, version=number)
                for row in range(len(next(iter(columns.values()))))]


def _is_column(value: Any) -> bool:
    return isinstance(value, np.ndarray) and value.ndim == 1


def _text_rank(declared: dict) -> int | None:
    """2 for a string input declared [N, 1], 1 for [N], None for anything else (fixed batch sizes included)."""
    shape = declared.get("shape")
    if declared.get("type") != "tensor(string)" or shape is None or len(shape) not in (1, 2):
        return None
    if shape[0] not in (None, 0) or (len(shape) == 2 and shape[1] != 1):
        return None
    return len(shape)


def _as_rows(value: Any) -> list:
    """An output as a list with one JSON-ready entry per example."""
    if isinstance(value, np.ndarray):
        return [value.item()] if value.ndim == 0 else value.tolist()
    if isinstance(value, list):  # a sequence of maps (ZipMap outputs)
        return [{str(k): float(v) for k, v in item.items()} if isinstance(item, dict) else item for item in value]
    return [value]
