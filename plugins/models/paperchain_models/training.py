"""Training with scikit-learn, converted to ONNX with skl2onnx: serving never imports scikit-learn.

Every trainer returns a :class:`Trained` holding the ONNX bytes, the declared inputs and outputs,
the labels and the metrics to store with the version. ``progress(fraction, message)`` is called
as training goes.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Callable
from typing import Any

import attrs
import numpy as np

from paperchain_sdk import InputError, MissingDependency

from .textnorm import TOKEN_PATTERN, normalize_text

Progress = Callable[[float, str], None]
INSTALL = "pip install 'paperchain-models[train]'"


@attrs.frozen(kw_only=True)
class Trained:
    onnx: bytes = attrs.field(repr=False)
    kind: str
    task: str
    labels: list
    metrics: dict
    training: dict


def require_training_libraries() -> None:
    import importlib.util

    missing = [m for m in ("sklearn", "skl2onnx") if importlib.util.find_spec(m) is None]
    if missing:
        raise MissingDependency(f"training models needs {' and '.join(missing)}, which is not installed.", hint=INSTALL)


def _quiet(_fraction: float, _message: str) -> None:
    pass


# -- text classification -------------------------------------------------------------------------------


def train_text(texts: list[str], labels: list[str], *, algorithm: str = "logistic", test_size: float = 0.25,
               cv_folds: int = 3, seed: int = 0, progress: Progress = _quiet) -> Trained:
    """TF-IDF + logistic regression (or a linear SVM), evaluated on a stratified hold-out split and
    by stratified cross-validation, then refit on every example and converted to ONNX."""
    require_training_libraries()
    from sklearn.model_selection import (
        StratifiedKFold,
        cross_validate,
        train_test_split,
    )

    texts = [normalize_text(t) for t in texts]
    labels = [str(label) for label in labels]
    counts = Counter(labels)
    if len(counts) < 2:
        raise InputError(f"text classification needs at least two labels, got {sorted(counts)}.",
                         hint="label documents with at least two different values")
    rare = sorted(label for label, n in counts.items() if n < 2)
    if rare:
        raise InputError(f"labels {rare} have a single example; a stratified split needs two or more each.",
                         hint="label more documents with them, or remove those labels")
    progress(0.05, f"{len(texts)} documents, {len(counts)} labels")
    x_train, x_test, y_train, y_test = train_test_split(
        texts, labels, test_size=_test_count(test_size, len(texts), len(counts)), stratify=labels, random_state=seed)
    folds = min(cv_folds, min(Counter(y_train).values()))
    cv = {}
    if folds >= 2:
        scores = cross_validate(_text_pipeline(algorithm, seed), x_train, y_train,
                                cv=StratifiedKFold(folds, shuffle=True, random_state=seed), scoring=("accuracy", "f1_macro"))
        cv = {"folds": folds, "accuracy_mean": float(scores["test_accuracy"].mean()),
              "accuracy_std": float(scores["test_accuracy"].std()),
              "f1_macro_mean": float(scores["test_f1_macro"].mean()), "f1_macro_std": float(scores["test_f1_macro"].std())}
    progress(0.4, "cross-validation done")
    holdout_model = _text_pipeline(algorithm, seed).fit(x_train, y_train)
    metrics = {"holdout": classification_metrics(y_test, list(holdout_model.predict(x_test)), sorted(counts)),
               "cross_validation": cv, "train_size": len(x_train), "test_size": len(x_test)}
    progress(0.6, "hold-out evaluation done")
    final = _text_pipeline(algorithm, seed).fit(texts, labels)
    onnx_bytes = _convert(final, "text", "string", 1)
    classes = [str(c) for c in final.classes_]
    metrics["onnx_agreement"] = _check_text_conversion(final, onnx_bytes, texts[:200], algorithm)
    progress(0.95, "converted to ONNX")
    return Trained(onnx=onnx_bytes, kind="text", task="classification", labels=classes, metrics=metrics,
                   training={"algorithm": algorithm, "examples": len(texts), "label_counts": dict(counts),
                             "normalization": "nfkd-lower-ascii", "seed": seed,
                             "probabilities": algorithm == "logistic"})


def _text_pipeline(algorithm: str, seed: int):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression, SGDClassifier
    from sklearn.pipeline import Pipeline

    if algorithm == "logistic":
        classifier = LogisticRegression(max_iter=2000, random_state=seed)
    elif algorithm == "svm":
        # A linear SVM (hinge loss) fit by SGD: skl2onnx 1.20 cannot convert LinearSVC inside a pipeline.
        classifier = SGDClassifier(loss="hinge", alpha=1e-4, max_iter=2000, tol=1e-4, random_state=seed)
    else:
        raise InputError(f"algorithm {algorithm!r} is not known.", hint="use 'logistic' or 'svm'")
    vectorizer = TfidfVectorizer(token_pattern=TOKEN_PATTERN, lowercase=False, min_df=1, max_features=50_000)
    return Pipeline([("tfidf", vectorizer), ("classifier", classifier)])


def _test_count(test_size: float, total: int, classes: int) -> int:
    count = max(classes, round(test_size * total))
    if total - count < classes:
        raise InputError(f"{total} examples are too few to hold out {count} for testing with {classes} labels.",
                         hint="label more documents")
    return count


def _check_text_conversion(pipeline, onnx_bytes: bytes, texts: list[str], algorithm: str) -> dict:
    """Compare scikit-learn's and onnxruntime's answers on the training texts."""
    import onnxruntime as ort

    from .inference import ensure_utf8_locale

    ensure_utf8_locale()
    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    labels, scores = session.run(None, {"text": np.array(texts, dtype=object).reshape(-1, 1)})
    agreement = float(np.mean(np.asarray(labels).astype(str) == pipeline.predict(texts).astype(str)))
    reference = pipeline.predict_proba(texts) if algorithm == "logistic" else pipeline.decision_function(texts)
    reference = reference if reference.ndim == 2 else np.column_stack([-reference, reference])
    scores = scores if scores.shape == reference.shape else scores.reshape(reference.shape)
    return {"label_agreement": agreement, "max_score_difference": float(np.max(np.abs(scores - reference)))}


def _convert(model, input_name: str, input_type: str, width: int | None) -> bytes:
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    tensor = StringTensorType([None, 1]) if input_type == "string" else FloatTensorType([None, width])
    last = _last(model)
    zipmap_models = ("LogisticRegression", "RandomForestClassifier", "SGDClassifier")
    options = {id(last): {"zipmap": False}} if type(last).__name__ in zipmap_models else None
    onnx_model = to_onnx(model, initial_types=[(input_name, tensor)], options=options, target_opset=17)
    return onnx_model.SerializeToString()


def _last(model):
    return model.steps[-1][1] if hasattr(model, "steps") else model


def classification_metrics(truth: list, predicted: list, labels: list) -> dict:
    """Accuracy, per-class precision/recall/F1/support and the confusion matrix (rows: truth)."""
    from sklearn.metrics import (
        accuracy_score,
        confusion_matrix,
        precision_recall_fscore_support,
    )

    precision, recall, f1, support = precision_recall_fscore_support(truth, predicted, labels=labels, zero_division=0)
    return {
        "accuracy": float(accuracy_score(truth, predicted)),
        "per_class": {label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
                      for label, p, r, f, s in zip(labels, precision, recall, f1, support)},
        "f1_macro": float(np.mean(f1)),
        "confusion_matrix": {"labels": labels, "matrix": confusion_matrix(truth, predicted, labels=labels).tolist()},
    }


# -- tabular ---------------------------------------------------------------------------------------------

TABULAR_TASKS = ("classification", "regression", "clustering")


def read_records(records: Any = None, csv_text: str | None = None) -> list[dict]:
    """Records from a JSON list of objects or from CSV text (header row first)."""
    if csv_text is not None:
        rows = list(csv.DictReader(io.StringIO(csv_text)))
        if not rows:
            raise InputError("the CSV has no data rows.", hint="give a header row and at least one data row")
        return [{k: _number_or_text(v) for k, v in row.items()} for row in rows]
    if not isinstance(records, list) or not records or not all(isinstance(r, dict) for r in records):
        raise InputError("records must be a non-empty list of JSON objects.", hint='send [{"x": 1, "y": 2}, …]')
    return records


def _number_or_text(value: str):
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


def train_tabular(records: list[dict], *, task: str, target: str | None = None, features: list[str] | None = None,
                  algorithm: str = "linear", clusters: int = 3, test_size: float = 0.25, cv_folds: int = 3,
                  seed: int = 0, progress: Progress = _quiet) -> Trained:
    """Classification, regression or k-means clustering on numeric features, converted to ONNX."""
    require_training_libraries()
    if task not in TABULAR_TASKS:
        raise InputError(f"task {task!r} is not known.", hint=f"use one of {', '.join(TABULAR_TASKS)}")
    if task != "clustering" and (not target or any(target not in r for r in records)):
        raise InputError(f"every record needs the target column {target!r} for {task}.", hint="name the target column")
    features = features or [k for k in records[0] if k != target]
    matrix = _feature_matrix(records, features)
    progress(0.1, f"{len(records)} records, {len(features)} features")
    if task == "clustering":
        return _train_clustering(matrix, features, clusters, seed, progress)
    target_values = [r[target] for r in records]
    if task == "regression":
        try:
            y = np.asarray(target_values, dtype=np.float64)
        except (TypeError, ValueError):
            raise InputError(f"regression needs a numeric target; {target!r} has text values.",
                             hint="use classification for categories") from None
        return _train_regression(matrix, y, features, target, algorithm, test_size, cv_folds, seed, progress)
    y = np.asarray([str(v) for v in target_values])
    return _train_classification(matrix, y, features, target, algorithm, test_size, cv_folds, seed, progress)


def _feature_matrix(records: list[dict], features: list[str]) -> np.ndarray:
    if not features:
        raise InputError("there are no feature columns.", hint="give records with at least one numeric column")
    rows = []
    for i, record in enumerate(records):
        row = []
        for f in features:
            value = record.get(f)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InputError(f"record {i}: feature {f!r} is {value!r}, not a number.",
                                 hint="tabular models take numeric features; encode categories as numbers first")
            row.append(value)
        rows.append(row)
    matrix = np.asarray(rows, dtype=np.float32)
    if not np.all(np.isfinite(matrix)):
        raise InputError("the features contain NaN or infinite values.", hint="fill or drop incomplete records")
    return matrix


def _tabular_estimator(task: str, algorithm: str, seed: int):
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    choices = {
        ("classification", "linear"): lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)),
        ("classification", "forest"): lambda: RandomForestClassifier(n_estimators=100, random_state=seed),
        ("regression", "linear"): lambda: make_pipeline(StandardScaler(), Ridge(alpha=1.0)),
        ("regression", "forest"): lambda: RandomForestRegressor(n_estimators=100, random_state=seed),
    }
    if (task, algorithm) not in choices:
        raise InputError(f"algorithm {algorithm!r} is not known for {task}.", hint="use 'linear' or 'forest'")
    return choices[(task, algorithm)]()


def _train_classification(x, y, features, target, algorithm, test_size, cv_folds, seed, progress) -> Trained:
    from sklearn.model_selection import (
        StratifiedKFold,
        cross_val_score,
        train_test_split,
    )

    counts = Counter(y.tolist())
    if len(counts) < 2 or min(counts.values()) < 2:
        raise InputError(f"classification needs two or more classes with two or more records each, got {dict(counts)}.",
                         hint="add records")
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=_test_count(test_size, len(y), len(counts)),
                                                        stratify=y, random_state=seed)
    folds = min(cv_folds, min(Counter(y_train.tolist()).values()))
    cv = {}
    if folds >= 2:
        scores = cross_val_score(_tabular_estimator("classification", algorithm, seed), x_train, y_train,
                                 cv=StratifiedKFold(folds, shuffle=True, random_state=seed), scoring="f1_macro")
        cv = {"folds": folds, "f1_macro_mean": float(scores.mean()), "f1_macro_std": float(scores.std())}
    progress(0.5, "cross-validation done")
    held = _tabular_estimator("classification", algorithm, seed).fit(x_train, y_train)
    labels = sorted(counts)
    metrics = {"holdout": classification_metrics(y_test.tolist(), held.predict(x_test).tolist(), labels),
               "cross_validation": cv, "train_size": len(y_train), "test_size": len(y_test)}
    final = _tabular_estimator("classification", algorithm, seed).fit(x, y)
    progress(0.9, "converted to ONNX")
    return Trained(onnx=_convert(final, "features", "float", x.shape[1]), kind="tabular", task="classification",
                   labels=[str(c) for c in final.classes_], metrics=metrics,
                   training={"algorithm": algorithm, "features": features, "target": target, "examples": len(y),
                             "probabilities": True})


def _train_regression(x, y, features, target, algorithm, test_size, cv_folds, seed, progress) -> Trained:
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
    from sklearn.model_selection import KFold, cross_val_score, train_test_split

    if len(y) < 5:
        raise InputError(f"regression needs at least 5 records, got {len(y)}.", hint="add records")
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=max(1, round(test_size * len(y))),
                                                        random_state=seed)
    folds = min(cv_folds, len(y_train))
    scores = cross_val_score(_tabular_estimator("regression", algorithm, seed), x_train, y_train,
                             cv=KFold(folds, shuffle=True, random_state=seed), scoring="r2")
    progress(0.5, "cross-validation done")
    predicted = _tabular_estimator("regression", algorithm, seed).fit(x_train, y_train).predict(x_test)
    metrics = {"holdout": {"mse": float(mean_squared_error(y_test, predicted)),
                           "mae": float(mean_absolute_error(y_test, predicted)),
                           "r2": float(r2_score(y_test, predicted)) if len(y_test) > 1 else None},
               "cross_validation": {"folds": folds, "r2_mean": float(np.mean(scores)), "r2_std": float(np.std(scores))},
               "train_size": len(y_train), "test_size": len(y_test)}
    final = _tabular_estimator("regression", algorithm, seed).fit(x, y)
    return Trained(onnx=_convert(final, "features", "float", x.shape[1]), kind="tabular", task="regression",
                   labels=[], metrics=metrics,
                   training={"algorithm": algorithm, "features": features, "target": target, "examples": len(y)})


def _train_clustering(x, features, clusters, seed, progress) -> Trained:
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    if not 2 <= clusters < len(x):
        raise InputError(f"k-means with {clusters} clusters needs 2 <= clusters < records ({len(x)}).",
                         hint="choose fewer clusters or add records")
    model = KMeans(n_clusters=clusters, n_init=10, random_state=seed).fit(x)
    progress(0.7, "k-means done")
    metrics = {"silhouette": float(silhouette_score(x, model.labels_)), "inertia": float(model.inertia_),
               "cluster_sizes": np.bincount(model.labels_, minlength=clusters).tolist()}
    return Trained(onnx=_convert(model, "features", "float", x.shape[1]), kind="tabular", task="clustering",
                   labels=[str(i) for i in range(clusters)], metrics=metrics,
                   training={"algorithm": "kmeans", "features": features, "clusters": clusters, "examples": len(x)})
