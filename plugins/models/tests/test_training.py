"""Training paths, their metrics and the conversion; inputs checked against the declared ones."""

from __future__ import annotations

import random

import numpy as np
import pytest

from paperchain_models import training
from paperchain_models.onnx_io import coerce_inputs, describe_onnx
from paperchain_models.textnorm import TOKEN_PATTERN, fold_text, normalize_text
from paperchain_sdk import InputError


def test_normalization_removes_case_accents_and_extra_space():
    assert normalize_text("  Señor\tMÜLLER  Ça\n") == "senor muller ca"
    assert normalize_text("A\x0b\x1c B\r\n\n  c ") == "a b c"  # every ASCII whitespace, as str.split() sees it


MESSY_TEXTS = ["  Señor\tMÜLLER  Ça\n", "Invoice\n\nTOTAL:\t 42,00 EUR\r\n  due\x0c now ", "a\u2003b\u00a0cc  dd\u3000Éé",
               "ÅÄÖ åäö Straße  Œuvre\n\t", "x_y  __ a1  1a\x1f\x1d b", ""]


@pytest.mark.parametrize("text", MESSY_TEXTS)
def test_serving_fold_gives_the_training_tokens(text):
    import re

    assert re.findall(TOKEN_PATTERN, fold_text(text)) == re.findall(TOKEN_PATTERN, normalize_text(text))


@pytest.mark.parametrize("algorithm", ["logistic", "svm"])
def test_text_classifier_converts_exactly(algorithm, text_maker):
    rng = random.Random(3)
    labels = [label for label in ("invoice", "contract", "recipe") for _ in range(10)]
    texts = [text_maker(label, rng) for label in labels]
    trained = training.train_text(texts, labels, algorithm=algorithm, cv_folds=3)
    assert trained.labels == ["contract", "invoice", "recipe"]
    assert trained.metrics["onnx_agreement"]["label_agreement"] == 1.0
    assert trained.metrics["onnx_agreement"]["max_score_difference"] < 1e-4
    assert trained.training["probabilities"] is (algorithm == "logistic")
    inputs, outputs = describe_onnx(trained.onnx)
    assert inputs == [{"name": "text", "type": "tensor(string)", "shape": [None, 1]}]
    assert [o["name"] for o in outputs] == ["label", "probabilities"]
    # onnxruntime's own tokenizer (RE2) sees the same tokens in serving's folded text as in training's
    import onnxruntime as ort

    from paperchain_models.inference import ensure_utf8_locale

    ensure_utf8_locale()
    session = ort.InferenceSession(trained.onnx, providers=["CPUExecutionProvider"])
    messy = [text.replace(" ", "\n\t ", 3).upper() + "  Ça\r\n" for text in texts[:5]] + MESSY_TEXTS
    folded, normalized = ([[f(text)] for text in messy] for f in (fold_text, normalize_text))
    for mine, theirs in zip(session.run(None, {"text": np.array(folded, dtype=object)}),
                            session.run(None, {"text": np.array(normalized, dtype=object)})):
        assert np.array_equal(mine, theirs)


def test_text_training_refuses_unusable_labels():
    with pytest.raises(InputError, match="at least two labels"):
        training.train_text(["a b", "c d"], ["x", "x"])
    with pytest.raises(InputError, match=r"labels \['y'\] have a single example"):
        training.train_text(["aa bb", "cc dd", "ee ff"], ["x", "x", "y"])


def records(n=80, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        x, y = rng.random(), rng.random()
        rows.append({"x": x, "y": y, "z": 3 * x - y + 0.01 * rng.standard_normal(), "c": "hi" if x + y > 1 else "lo"})
    return rows


def test_regression_reports_mse_mae_r2():
    trained = training.train_tabular(records(), task="regression", target="z", features=["x", "y"])
    holdout = trained.metrics["holdout"]
    assert holdout["r2"] > 0.95 and holdout["mse"] < 0.05 and holdout["mae"] < 0.2
    assert trained.training["features"] == ["x", "y"]


def test_tabular_classification_from_csv():
    rows = records()
    csv_text = "x,y,c\n" + "\n".join(f"{r['x']},{r['y']},{r['c']}" for r in rows)
    trained = training.train_tabular(training.read_records(csv_text=csv_text), task="classification", target="c")
    assert trained.labels == ["hi", "lo"] and trained.metrics["holdout"]["accuracy"] > 0.8
    assert trained.metrics["holdout"]["confusion_matrix"]["labels"] == ["hi", "lo"]


def test_kmeans_reports_silhouette():
    rng = np.random.default_rng(0)
    rows = [{"a": float(cx + rng.normal(0, 0.1)), "b": float(cy + rng.normal(0, 0.1))}
            for cx, cy in ((0, 0), (5, 5), (0, 5)) for _ in range(20)]
    trained = training.train_tabular(rows, task="clustering", clusters=3)
    assert trained.metrics["silhouette"] > 0.8 and sorted(trained.metrics["cluster_sizes"]) == [20, 20, 20]


@pytest.mark.parametrize(("rows", "kwargs", "says"), [
    ([{"x": "red", "z": 1.0}] * 6, {"task": "regression", "target": "z"}, "feature 'x' is 'red', not a number"),
    ([{"x": 1.0}] * 6, {"task": "regression", "target": "z"}, "target column 'z'"),
    ([{"x": 1.0, "z": "big"}] * 6, {"task": "regression", "target": "z"}, "numeric target"),
    ([{"x": 1.0}] * 6, {"task": "clustering", "clusters": 9}, "clusters"),
    ([{"x": 1.0}] * 6, {"task": "ranking"}, "task 'ranking'"),
])
def test_bad_tabular_data_is_an_input_error(rows, kwargs, says):
    with pytest.raises(InputError, match=says):
        training.train_tabular(rows, **kwargs)


def test_string_inputs_must_be_strings():
    declared = [{"name": "text", "type": "tensor(string)", "shape": [None, 1]}]
    assert coerce_inputs({"text": [["hello"]]}, declared)["text"].shape == (1, 1)
    with pytest.raises(InputError, match="takes strings"):
        coerce_inputs({"text": [[3]]}, declared)
    ints = [{"name": "n", "type": "tensor(int64)", "shape": [None]}]
    with pytest.raises(InputError, match="takes integers"):
        coerce_inputs({"n": [1.5, 2]}, ints)
    assert coerce_inputs({"n": [1, 2]}, ints)["n"].dtype == np.int64


def test_model_component_fits_inline_data_and_predicts(paperchain_kernel, text_maker):
    import paperchain_models

    harness = paperchain_kernel(paperchain_models)
    model = harness.kernel.component("models.predict")  # async methods: the engine runs them on its loop
    rng = random.Random(5)
    labels = [label for label in ("invoice", "recipe") for _ in range(8)]
    metrics = harness.call(model.fit({"model": "m", "texts": [text_maker(label, rng) for label in labels],
                                      "labels": labels, "promote": True}))
    assert metrics["version"] == 1 and metrics["stage"] == "production" and metrics["holdout"]["accuracy"] >= 0.75
    prediction = harness.call(model.predict({"model": "m", "text": "bake flour sugar butter in the oven"}))
    assert prediction.label == "recipe" and prediction.version == "1"
    with pytest.raises(InputError, match="exactly one of text, record or inputs"):
        harness.call(model.predict({"model": "m"}))
    with pytest.raises(InputError, match="texts and labels inline"):
        harness.call(model.fit({"model": "m"}))
