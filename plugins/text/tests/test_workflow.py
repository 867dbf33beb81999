"""The analyzers as workflow steps in a real kernel, and the /api/v1/text/similar route."""

from __future__ import annotations

import pytest

import paperchain_text

ANALYZER_STEPS = ["language", "keywords", "entities", "stats", "summary", "readability", "near_duplicates"]


def workflow(text_step: dict | None = None) -> dict:
    steps = [{"id": "text", "uses": "document.text", **(text_step or {})}]
    steps += [{"id": name, "uses": f"text.{name}", "needs": ["text"]} for name in ANALYZER_STEPS]
    return {"name": "text-analysis", "steps": steps}


@pytest.fixture
def files(tmp_path, english, spanish):
    folder = tmp_path / "inbox"
    folder.mkdir()
    (folder / "a-invoice.txt").write_text(english)
    (folder / "b-invoice-copy.txt").write_text(english.replace("wonderful", "great") + "\nKind regards.")
    (folder / "c-factura.txt").write_text(spanish)
    return folder


def test_analyzers_run_as_steps_and_find_the_copy(paperchain_kernel, files):
    kernel = paperchain_kernel(paperchain_text)
    outcome = kernel.run(workflow(), files=sorted(files.iterdir()))
    assert outcome.succeeded, [r.error for r in outcome.runs]
    by_name = {r.document_name: r for r in outcome.runs}
    assert set(by_name) == {"a-invoice.txt", "b-invoice-copy.txt", "c-factura.txt"}
    spanish = by_name["c-factura.txt"]
    assert spanish.steps["language"].outputs["language"] == "es"
    assert spanish.steps["entities"].outputs["counts"]["ibans"] == 1
    # Documents run concurrently: whichever was indexed second found the other.
    a, b = by_name["a-invoice.txt"], by_name["b-invoice-copy.txt"]
    found = a.steps["near_duplicates"].outputs["duplicates"] + b.steps["near_duplicates"].outputs["duplicates"]
    assert {d["document_id"] for d in found} <= {a.document_id, b.document_id} and len(found) >= 1
    assert spanish.steps["near_duplicates"].outputs["duplicates"] == []

    async def ask(path):
        from aiohttp.test_utils import TestClient, TestServer

        from paperchain_sdk.testing.routes import routes_app

        app = routes_app(kernel.kernel, kernel.kernel.routes())  # the operator calls
        async with TestClient(TestServer(app)) as client:
            response = await client.get(path)
            return response.status, await response.json()

    status, body = kernel.call(ask(f"/api/v1/text/similar/{a.document_id}?threshold=0.5"))
    assert status == 200 and body["indexed"] is True
    assert [d["document_id"] for d in body["similar"]] == [b.document_id]
    assert body["similar"][0]["jaccard"] > 0.8
    status, body = kernel.call(ask(f"/api/v1/text/similar/{spanish.document_id}?threshold=0.9&limit=5"))
    assert status == 200 and body["similar"] == []


def test_route_rejects_bad_parameters_and_unknown_documents(paperchain_kernel):
    from paperchain_sdk import InputError, NotFoundError

    kernel = paperchain_kernel(paperchain_text)
    handler = next(r.handler for r in kernel.kernel.routes() if r.path.startswith("/api/v1/text/similar/"))

    import types

    from paperchain_sdk.web import KERNEL_KEY, PRINCIPAL_KEY, Principal

    class Request(dict):
        def __init__(self, document_id, query):
            super().__init__({PRINCIPAL_KEY: Principal(name="root", role="admin")})
            self.match_info = {"document_id": document_id}
            self.rel_url = types.SimpleNamespace(query=query)
            self.app = {KERNEL_KEY: kernel.kernel}

    with pytest.raises(InputError, match="threshold must be in"):
        kernel.call(handler(Request("x", {"threshold": "2"})))
    with pytest.raises(InputError, match="limit must be a whole number"):
        kernel.call(handler(Request("x", {"limit": "many"})))
    with pytest.raises(NotFoundError):
        kernel.call(handler(Request("0" * 64, {})))


def test_a_document_without_text_fails_its_run_with_advice(paperchain_kernel, tmp_path):
    from kernel_support import SHARED_DOCUMENTS

    kernel = paperchain_kernel(paperchain_text)
    wf = {"name": "no-text-step", "steps": [{"id": "stats", "uses": "text.stats"}]}
    outcome = kernel.run(wf, files=[SHARED_DOCUMENTS / "typewriter.png"])
    (run,) = outcome.runs
    assert not run.succeeded
    assert "typewriter.png" in run.error and "document.text" in run.error and "OCR" in run.error


def test_scans_and_bad_files_do_not_stop_the_batch(paperchain_kernel, files):
    from kernel_support import SHARED_DOCUMENTS

    kernel = paperchain_kernel(paperchain_text)
    inputs = [SHARED_DOCUMENTS / "typewriter.png", SHARED_DOCUMENTS / "skew.pdf", SHARED_DOCUMENTS / "invalid.pdf",
              files / "c-factura.txt"]
    outcome = kernel.run(workflow({"with": {"allow_empty": True}}), files=inputs)
    by_name = {r.document_name: r for r in outcome.runs}
    assert by_name["c-factura.txt"].succeeded
    assert by_name["skew.pdf"].succeeded  # a scan: empty text, so empty findings
    assert by_name["skew.pdf"].steps["stats"].outputs["words"] == 0
    assert by_name["skew.pdf"].steps["near_duplicates"].outputs["indexed"] is False
    assert not by_name["typewriter.png"].succeeded and not by_name["invalid.pdf"].succeeded
