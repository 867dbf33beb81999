"""Done when: a model trained from labeled documents classifies new ones inside a workflow, ONNX only."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import textwrap
from pathlib import Path

TRAIN = {"name": "retrain", "steps": [{"id": "train", "uses": "models.train",
                                        "with": {"model": "doctype", "min_documents": 12}}]}
CLASSIFY = {"name": "classify", "steps": [
    {"id": "text", "uses": "document.text"},
    {"id": "classify", "uses": "models.classify", "needs": ["text"], "with": {"model": "doctype"}},
    {"id": "predict", "uses": "models.predict", "needs": ["text"],
     "with": {"model": "doctype", "text": "${{ document.text }}"}},
]}


def new_documents(make_text, folder, count_per_label=3, seed=99):
    rng = random.Random(seed)
    folder.mkdir()
    files = {}
    for label in ("invoice", "contract", "recipe"):
        for n in range(count_per_label):
            path = folder / f"new{n}_{label}.txt"
            path.write_text(make_text(label, rng), encoding="utf-8")
            files[path] = label
    return files


def test_train_from_labeled_documents_then_classify_new_ones(labeled_kernel, tmp_path, text_maker):
    outcome = labeled_kernel.run(TRAIN)
    assert outcome.status == "succeeded", outcome.runs[0].error
    trained = outcome.runs[0].steps["train"].outputs
    assert trained["model"] == "doctype" and trained["version"] == 1 and trained["stage"] == "production"
    assert trained["examples"] == 36 and trained["accuracy"] >= 0.9

    from paperchain_models.service import service_for

    version = labeled_kernel.call(service_for(labeled_kernel.kernel).registry.get("doctype", 1))
    holdout = version.metrics["holdout"]
    assert set(holdout["per_class"]) == {"invoice", "contract", "recipe"}
    assert {"precision", "recall", "f1", "support"} <= set(holdout["per_class"]["invoice"])
    matrix = holdout["confusion_matrix"]["matrix"]
    assert sum(map(sum, matrix)) == version.metrics["test_size"]
    assert version.metrics["cross_validation"]["folds"] == 3
    assert version.metrics["onnx_agreement"]["label_agreement"] == 1.0
    assert len(version.training["data"]["documents"]) == 36

    files = new_documents(text_maker, tmp_path / "new")
    outcome = labeled_kernel.run(CLASSIFY, files=list(files))
    assert outcome.status == "succeeded", [r.error for r in outcome.runs]
    correct = 0
    for path, run in zip(outcome.paths, outcome.runs):
        label = run.steps["classify"].outputs["label"]
        assert run.steps["classify"].outputs["applied"] is True
        assert run.steps["predict"].outputs["label"] == label
        assert abs(sum(run.steps["classify"].outputs["probabilities"].values()) - 1) < 1e-4
        doc = labeled_kernel.call(labeled_kernel.kernel.documents.get(run.document_id))
        assert label in doc.tags
        correct += label == files[Path(path)]
    assert correct >= 8


def test_classifying_needs_no_scikit_learn(labeled_kernel, tmp_path, text_maker):
    """Serving in a fresh process where importing scikit-learn or skl2onnx fails."""
    assert labeled_kernel.run(TRAIN).status == "succeeded"
    files = new_documents(text_maker, tmp_path / "new", count_per_label=1)
    data_dir = labeled_kernel.kernel.data_dir
    labeled_kernel.call(labeled_kernel.kernel.close())  # release the database; the fixture closes the rest
    script = textwrap.dedent(f"""
        import json, sys
        sys.modules["sklearn"] = None; sys.modules["skl2onnx"] = None  # any import of them now fails
        import paperchain_models
        from paperchain.harness import KernelHarness
        harness = KernelHarness([paperchain_models], data_dir={str(data_dir)!r})
        outcome = harness.run({json.dumps(CLASSIFY)}, files={json.dumps([str(p) for p in files])})
        print(json.dumps([r.steps["classify"].outputs.get("label") if r.steps["classify"].status == "succeeded"
                          else r.error for r in outcome.runs]))
        harness.close()
    """)
    result = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    labels = json.loads(result.stdout.strip().splitlines()[-1])
    assert sorted(labels) == sorted(files.values())


def test_classify_without_text_and_unknown_model_fail_clearly(labeled_kernel, tmp_path):
    empty = tmp_path / "blank.txt"
    empty.write_text(" ", encoding="utf-8")
    outcome = labeled_kernel.run({"name": "c", "steps": [
        {"id": "classify", "uses": "models.classify", "with": {"model": "doctype"}}]}, files=[empty])
    assert "needs a document with text" in outcome.runs[0].steps["classify"].error
    words = tmp_path / "words.txt"
    words.write_text("some words", encoding="utf-8")
    outcome = labeled_kernel.run({"name": "c", "steps": [{"id": "text", "uses": "document.text"},
        {"id": "classify", "uses": "models.classify", "needs": ["text"], "with": {"model": "nope"}}]}, files=[words])
    assert "no model 'nope'" in outcome.runs[0].steps["classify"].error


def test_training_with_too_few_labels_fails_clearly(paperchain_kernel):
    import paperchain_models

    harness = paperchain_kernel(paperchain_models)
    outcome = harness.run(TRAIN)
    assert outcome.status == "failed"
    assert "only 0 documents are labeled" in outcome.runs[0].steps["train"].error
