"""The workflow components: the ``models.predict`` model and the classify/train actions."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from paperchain_sdk import DocumentUpdate, InputError, Prediction, Result
from paperchain_sdk.contracts import Action, KernelBound, Model

from . import service as _service


class RegisteredModel(KernelBound, Model):
    """Predict with any registered model through onnxruntime.

    A step's ``with`` names ``model`` (and optionally ``version``) and one of ``text`` (text
    models), ``record`` (tabular models: an object keyed by feature name) or ``inputs`` (the
    model's declared inputs by name).

    A model step is not told its run's tenant, so it uses the deployment's shared models only
    (never a tenant's); ``models.classify`` uses the run's tenant's own.
    """

    async def predict(self, inputs: Mapping[str, Any]) -> Prediction:
        svc = _service.service_for(self.kernel)
        inputs = {k: v for k, v in dict(inputs).items()
                  if k not in ("intra_op_threads", "inter_op_threads", "cache_size") and v is not None}
        name = inputs.pop("model", None)
        if not name:
            raise InputError("which model? the step's `with` needs `model`.", hint='add model = "NAME"')
        version = await svc.registry.resolve(name, str(inputs.pop("version", "") or ""))
        given = [k for k in ("text", "record", "inputs") if k in inputs]
        if len(given) != 1 or inputs.keys() - {"text", "record", "inputs"}:
            raise InputError(f"give exactly one of text, record or inputs; got {sorted(inputs)}.",
                             hint="e.g. text = \"${{ document.text }}\"")
        if "text" in inputs and not isinstance(inputs["text"], str):
            raise InputError("text must be a string.", hint="pass the document's text")
        batch = {"texts": [inputs["text"]]} if "text" in inputs else \
            {"records": [inputs["record"]]} if "record" in inputs else {"inputs": inputs["inputs"]}
        return (await asyncio.to_thread(svc.predictor.predict_batch, version, **batch))[0]

    async def fit(self, data: Any) -> Mapping[str, Any]:
        """Train a new version now, from data given inline, and return its metrics.

        ``data``: ``{"model": NAME, "task": "text", "texts": [...], "labels": [...]}`` or a tabular
        task with ``records`` / ``csv`` and ``target`` (the train route's body, plus ``model``).
        The training runs in a worker thread; the new version is registered on the kernel's loop.
        """
        if not isinstance(data, Mapping) or not data.get("model"):
            raise InputError("fit needs an object with `model` and the training data.",
                             hint='e.g. {"model": "doctype", "texts": [...], "labels": [...]}')
        request = dict(data)
        name = request.pop("model")
        if request.get("task", "text") == "text" and "texts" not in request:
            raise InputError("fit takes texts and labels inline.", hint="use models.train to learn from labeled documents")
        svc = _service.service_for(self.kernel)
        trained, source = await asyncio.to_thread(svc._fit, request, request, lambda *_: None)
        version = await svc._register(name, request, trained, source, "fit", "")
        return {"model": version.name, "version": version.version, "stage": version.stage, **version.metrics}


class ClassifyDocument(KernelBound, Action):
    """Label the run's document from its text with a text classifier (ONNX only)."""

    async def run(self, ctx, inputs) -> Result:
        if not inputs.model:
            raise InputError("models.classify needs `model`.", hint='add model = "NAME" to the step\'s with')
        doc = ctx.document
        if doc is None or not (doc.text or "").strip():
            raise InputError("models.classify needs a document with text.",
                             hint="run document.text (or OCR) in an earlier step")
        svc = _service.service_for(self.kernel)
        version = await svc.registry.resolve(inputs.model, inputs.version, tenant=ctx.tenant)  # the run's tenant's
        prediction = (await asyncio.to_thread(svc.predictor.predict_batch, version, texts=[doc.text]))[0]
        confidence = prediction.probabilities.get(str(prediction.label)) if prediction.probabilities else None
        outputs = {"label": prediction.label, "confidence": confidence, "probabilities": dict(prediction.probabilities),
                   "model": version.name, "version": version.version, "applied": False}
        if confidence is not None and confidence < inputs.min_confidence:
            return Result(outputs=outputs)
        outputs["applied"] = True
        if inputs.field == "tags":
            update = DocumentUpdate(tags=(str(prediction.label),))
        else:
            update = DocumentUpdate(metadata={**doc.metadata, inputs.field[9:]: prediction.label})
        return Result(outputs=outputs, document=update)


class TrainFromDocuments(KernelBound, Action):
    """Retrain a text classifier from the documents users have labeled; meant for scheduled workflows."""

    async def run(self, ctx, inputs) -> dict:
        if not inputs.model:
            raise InputError("models.train needs `model`.", hint='add model = "NAME" to the step\'s with')
        svc = _service.service_for(self.kernel)
        request = {"task": "text", "field": inputs.field, "algorithm": inputs.algorithm, "test_size": inputs.test_size,
                   "cv_folds": inputs.cv_folds, "min_documents": inputs.min_documents, "promote": inputs.promote,
                   "seed": inputs.seed}
        # The run's tenant's model, from that tenant's labeled documents only.
        job = await svc.train_now(inputs.model, request, by=f"workflow:{ctx.workflow}", tenant=ctx.tenant)
        if job["status"] != "succeeded":
            raise InputError(f"training {inputs.model!r} failed: {job['error']}", hint="see the job's error")
        version = await svc.registry.get(inputs.model, job["version"], tenant=ctx.tenant)
        holdout = version.metrics.get("holdout", {})
        return {"job": job["id"], "model": version.name, "version": version.version, "stage": version.stage,
                "accuracy": holdout.get("accuracy"), "f1_macro": holdout.get("f1_macro"),
                "examples": version.training.get("examples")}
