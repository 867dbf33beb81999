"""Registration, settings and chunking (no model needed)."""

from __future__ import annotations

import pytest

import paperchain_ai
from paperchain_ai.chunking import chunk_text, snippet
from paperchain_ai.search import check_query, full_text_query
from paperchain_ai.settings import EmbedSettings
from paperchain_sdk import InputError
from paperchain_sdk.testing import check_plugin


def test_registers_the_embed_step():
    specs = check_plugin(paperchain_ai)
    assert specs["ai.embed"].kind == "action"
    assert specs["ai.local"].kind == specs["ai.openai-compatible"].kind == "model"


def test_settings_say_what_is_wrong():
    with pytest.raises(ValueError, match="model must be one of"):
        EmbedSettings(model="gpt-9")
    with pytest.raises(ValueError, match="overlap must be at least 0 and less than chunk_words"):
        EmbedSettings(chunk_words=50, overlap=50)
    assert EmbedSettings(model="portuguese-multilingual-e5-small").model == "portuguese-multilingual-e5-small"


def test_chunks_overlap_and_cover_every_word():
    words = [f"w{i}" for i in range(25)]
    chunks = chunk_text(" ".join(words), words=10, overlap=3)
    assert [c.text.split()[0] for c in chunks] == ["w0", "w7", "w14", "w21"]
    assert chunks[-1].text.split()[-1] == "w24" and [c.ordinal for c in chunks] == [0, 1, 2, 3]
    assert all(c.page is None for c in chunks)
    assert chunks[0].text.split()[-3:] == chunks[1].text.split()[:3]  # the overlap


def test_chunks_keep_their_page_and_never_span_two():
    chunks = chunk_text("first page words\fsecond page\f\fafter an empty page", words=2, overlap=0)
    assert [(c.page, c.text) for c in chunks] == [
        (1, "first page"), (1, "words"), (2, "second page"), (4, "after an"), (4, "empty page")]


def test_blank_text_has_no_chunks():
    assert chunk_text(None) == [] and chunk_text("") == [] and chunk_text(" \n\f ") == []


def test_snippet_is_the_chunk_start():
    assert snippet("a b c", words=2) == "a b …" and snippet("a b", words=2) == "a b"


def test_queries_are_checked_and_sent_to_full_text_as_plain_words():
    with pytest.raises(InputError, match="empty"):
        check_query("   ")
    with pytest.raises(InputError, match="1001 characters long"):
        check_query("x" * 1001)
    # operators and quotes of the search grammar are not interpreted: plain words joined by OR
    assert full_text_query('What is "due" -now OR later? pay*') == "due OR now OR later OR pay"
    assert full_text_query("¿Cuánto es la factura de marzo?") == "factura OR marzo"
    assert full_text_query("? ! -") == ""
