"""Shared fixtures: the plugin's specs, sample texts, and the shared test documents."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import paperchain_text
from paperchain_sdk.testing import check_plugin

sys.path.insert(0, str(Path(__file__).parent))  # sentiment_benchmark, importable from the tests
ROOT = Path(__file__).resolve().parents[3]

ENGLISH = (
    "Dear Ms. Smith, thank you for your wonderful support last week. The invoice INV-2024-17 for $1,250.00 "
    "is due on 15 March 2024. Please pay to IBAN GB82 WEST 1234 5698 7654 32 or write to billing@example.com; "
    "you can also call +1 650-253-0000 or see https://example.com/pay?id=17. Our VAT number is DE136695976. "
    "We are happy with the results and the team did an excellent job.\n\n"
    "The delay was frustrating, but the final delivery was great."
)
SPANISH = (
    "Estimado cliente: la factura vence el 3 de abril de 2024 por un importe de 1.234,56 €. "
    "Puede pagar en la cuenta ES91 2100 0418 4502 0005 1332. Nuestro NIF-IVA es ESB58378431. "
    "Llame al +34 912 345 678 si tiene preguntas sobre el pedido y la entrega."
)


@pytest.fixture(scope="session")
def english():
    return ENGLISH


@pytest.fixture(scope="session")
def spanish():
    return SPANISH


@pytest.fixture(scope="session")
def specs():
    return check_plugin(paperchain_text)


@pytest.fixture
def text_document(paperchain_document):
    def make(text: str | None, name: str = "sample.txt", **fields):
        return paperchain_document(name, text if text is not None else b"%PDF-1.4 scan", text=text, **fields)

    return make


@pytest.fixture(scope="session")
def real_texts() -> list[str]:
    """Real prose of several kinds from the repository and the shared notes (read only)."""
    paths = [ROOT / "docs" / "architecture.md", ROOT / "docs" / "plugins.md", ROOT / "README.md",
             ROOT.parent / "shared" / "FIELD-NOTES.md", ROOT.parent / "shared" / "ARCHITECTURE.md",
             ROOT.parent / "shared" / "testdata" / "documents" / "README.md"]
    texts = [p.read_text(encoding="utf-8") for p in paths if p.is_file()]
    assert len(texts) >= 3, "the repository's documents are needed as real text"
    return texts


@pytest.fixture
def kernel_analyze(paperchain_kernel):
    """Run an analyzer as a kernel's workflow step does: the kernel's own instance of it (bound to
    the kernel at startup), the call on the kernel's loop (``text.near_duplicates`` keeps its index
    in the kernel's plugin storage). Returns the Findings."""
    from paperchain_sdk.testing import make_document

    harness = []

    def analyze(spec, text: str, *, name: str = "sample.txt", **options):
        if not harness:
            harness.append(paperchain_kernel(paperchain_text))
        kernel = harness[0]
        doc = make_document(kernel.config.data_dir / "documents", name, text, text=text)
        return kernel.call(kernel.kernel.component(spec.name).analyze(doc, spec.settings(**options)))

    return analyze
