"""Settings classes (attrs only, so the hook module stays light)."""

from __future__ import annotations

import attrs

from paperchain_sdk.settings import at_least, between

ALGORITHMS = ("logistic", "svm")


def _label_field(instance, attribute, value):
    if value != "tags" and not (value.startswith("metadata.") and len(value) > 9):
        raise ValueError(f"{attribute.name} must be 'tags' or 'metadata.<key>', got {value!r}")


@attrs.define
class ModelSettings:
    """``models.predict``: deployment settings (``[components."models.predict"]``) and a step's ``with``.

    model / version: which registered model ("" version: production, else the newest).
    text (text models), record (tabular models: feature name -> number) or inputs (the model's
    declared inputs by name): what to predict for; give one in a step.
    intra_op_threads / inter_op_threads: onnxruntime's thread pools per session (0: its default,
    one per core). cache_size: how many model versions keep a loaded session.
    """

    model: str = ""
    version: str = ""
    text: str | None = None
    record: dict | None = None
    inputs: dict | None = None

    intra_op_threads: int = attrs.field(default=1, validator=attrs.validators.ge(0))
    inter_op_threads: int = attrs.field(default=1, validator=attrs.validators.ge(0))
    cache_size: int = attrs.field(default=16, validator=at_least(1))


@attrs.define
class ClassifySettings:
    """``models.classify``: label the run's document with a text classifier.

    model: registered model name. version: a number, or "" for the production version (else
    the newest). field: where the label goes: "tags" (added) or "metadata.<key>".
    min_confidence: below this probability the document is left unlabeled.
    """

    model: str = ""
    version: str = ""
    field: str = attrs.field(default="tags", validator=_label_field)
    min_confidence: float = attrs.field(default=0.0, validator=between(0, 1))


@attrs.define
class TrainSettings:
    """``models.train``: (re)train a text classifier from the documents users have labeled.

    field: where the labels are read ("tags": the first tag, or "metadata.<key>").
    algorithm: "logistic" (probabilities) or "svm" (a linear SVM; scores only).
    promote: put the new version in production when training succeeds.
    """

    model: str = ""
    field: str = attrs.field(default="tags", validator=_label_field)
    algorithm: str = attrs.field(default="logistic", validator=attrs.validators.in_(ALGORITHMS))
    test_size: float = attrs.field(default=0.25, validator=between(0, 1))
    cv_folds: int = attrs.field(default=3, validator=attrs.validators.ge(2))
    min_documents: int = attrs.field(default=6, validator=attrs.validators.ge(2))
    promote: bool = True
    seed: int = 0
