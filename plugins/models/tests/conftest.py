"""Fixtures: the plugin's specs, a labeled corpus, a test plugin that labels documents, tiny ONNX files."""

from __future__ import annotations

import random

import pytest

import paperchain_models
from paperchain_sdk import ActionSpec, DocumentUpdate, Result, hookimpl
from paperchain_sdk.contracts import Action
from paperchain_sdk.testing import check_plugin

VOCABULARY = {
    "invoice": ["invoice", "total", "amount", "due", "payment", "vat", "tax", "bank", "transfer", "net", "gross", "customer"],
    "contract": ["agreement", "party", "parties", "clause", "term", "signature", "liability", "law", "governing", "termination"],
    "recipe": ["flour", "sugar", "oven", "bake", "minutes", "egg", "butter", "salt", "whisk", "bowl", "dough"],
}
COMMON = ["the", "a", "of", "and", "to", "in", "for", "with", "this", "that", "is", "on", "be", "as", "by"]


def make_text(label: str, rng: random.Random, words: int = 40) -> str:
    pool = VOCABULARY[label] + COMMON
    return " ".join(rng.choice(pool) for _ in range(words)).capitalize() + ". Señor Müller."


def corpus(per_label: int, seed: int = 0) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    return [(make_text(label, rng), label) for label in VOCABULARY for _ in range(per_label)]


@pytest.fixture(scope="session")
def specs():
    return check_plugin(paperchain_models)


class LabelFromName(Action):
    """What a user does by hand: read the text, tag the document (here: the label before '-' in its name)."""

    def run(self, ctx, inputs):
        text = ctx.document.read_bytes().decode("utf-8")
        return Result(outputs={}, document=DocumentUpdate(text=text, tags=(ctx.document.name.split("-")[0],)))


class LabelPlugin:
    @hookimpl
    def paperchain_actions(self):
        return [ActionSpec(name="test.label", impl=LabelFromName, summary="tag from the file name")]


@pytest.fixture
def labeled_kernel(paperchain_kernel, tmp_path):
    """A kernel with the models plugin and 3 x 12 labeled text documents stored."""
    harness = paperchain_kernel(paperchain_models, LabelPlugin())
    folder = tmp_path / "labeled"
    folder.mkdir()
    files = []
    for n, (text, label) in enumerate(corpus(12)):
        path = folder / f"{label}-{n}.txt"
        path.write_text(text, encoding="utf-8")
        files.append(path)
    outcome = harness.run({"name": "label", "steps": [{"id": "label", "uses": "test.label"}]}, files=files)
    assert outcome.status == "succeeded", [r.error for r in outcome.runs]
    return harness


def linear_onnx(weights, bias, *, input_name: str = "x") -> bytes:
    """y = x @ weights + bias as an ONNX graph (float input [N, d])."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = np.asarray(weights, dtype=np.float32)
    bias = np.asarray(bias, dtype=np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", [input_name, "W"], ["xw"]), helper.make_node("Add", ["xw", "B"], ["y"])],
        "linear",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [None, weights.shape[0]])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, weights.shape[1]])],
        [numpy_helper.from_array(weights, "W"), numpy_helper.from_array(bias, "B")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


@pytest.fixture
def text_maker():
    return make_text


@pytest.fixture
def onnx_linear():
    return linear_onnx


@pytest.fixture
def serve_routes():
    """``serve_routes(harness, scenario)``: run ``await scenario(client)`` against our routes on a bare
    aiohttp app on loopback, on the harness's event loop. A tiny middleware does what the kernel's
    server does for us: sets the caller (admin "u", or the name in an X-Test-User header) and turns
    PaperchainErrors into JSON answers with the documented status codes."""
    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    from paperchain_sdk import (
        ConflictError,
        InputError,
        MissingDependency,
        NotFoundError,
        PaperchainError,
    )
    from paperchain_sdk.web import KERNEL_KEY, PRINCIPAL_KEY, Principal

    statuses = {InputError: 400, NotFoundError: 404, ConflictError: 409, MissingDependency: 503}

    @web.middleware
    async def caller(request, handler):
        request[PRINCIPAL_KEY] = Principal(name=request.headers.get("X-Test-User", "u"), role="admin")
        try:
            return await handler(request)
        except PaperchainError as exc:
            status = next((code for cls, code in statuses.items() if isinstance(exc, cls)), 400)
            return web.json_response({"error": {"code": type(exc).__name__, "message": exc.message,
                                                "hint": exc.hint}}, status=status)

    def serve(harness, scenario):
        async def main():
            app = web.Application(middlewares=[caller])
            app[KERNEL_KEY] = harness.kernel  # what the API server sets: handlers find it with kernel_of
            app.add_routes(paperchain_models.paperchain_routes(harness.kernel))
            async with TestClient(TestServer(app, host="127.0.0.1")) as client:
                return await scenario(client)

        return harness.call(main())

    return serve
