"""Full-text search (store/search/): one suite over the FTS5 and PostgreSQL adapters, which must
return the same hit sets (ranks may differ); and the kernel's SQLite index kept by triggers."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from paperchain.store.database import Database
from paperchain.store.schema import migrate
from paperchain.store.search import (
    ALL_TENANTS,
    MARK_CLOSE,
    MARK_OPEN,
    SearchSyntaxError,
    marked,
)
from paperchain.store.search.fts5 import Fts5Search
from paperchain.store.search.postgres import PostgresSearch
from paperchain.store.sql import SqlHandle
from paperchain_sdk import InputError

DOCUMENTS = [
    ("inv-1", "acme", "invoice-2026-031.txt", ("Invoice 2026-031 from ACME Ltd. Net 30 days. VAT 21% included. "
                                                     "Payment by bank transfer to the account below.")),
    ("inv-2", "acme", "receipt.txt", "Receipt for payment received: net thirty days, no VAT charged."),
    ("fac-1", "acme", "factura.txt", ("Factura número 17 del Café Niño, S.L. El pago vence a los treinta días. "
                                        "IVA incluido.")),
    ("note-1", "acme", "Café notes.md", "Meeting at the cafe about the e-mail campaign; draft only."),
    ("deed-1", "acme", "deed.txt", "Deed of sale of the house in Llanfair, 1907. Witnessed by the parish clerk."),
    ("draft-1", "acme", "draft-invoice.txt", "Draft invoice, not sent. Payment terms to be agreed."),
    ("es-2", "acme", "carta.txt", "Estimado señor: le escribo desde Logroño sobre la cañería del edificio."),
    ("other-1", "globex", "invoice-globex.txt", "Invoice from Globex. Net 30 days. Payment by cheque."),
    ("other-2", "globex", "cafe.txt", "Globex café order: twelve espressos."),
    ("free-1", "", "public.txt", "A public notice about invoices and payments."),
]

# query -> ids it finds in tenant acme (the same on both backends)
EXPECTED = {
    "invoice": {"inv-1", "draft-1"},
    "INVOICE": {"inv-1", "draft-1"},
    "invoice payment": {"inv-1", "draft-1"},
    "invoice AND payment": {"inv-1", "draft-1"},
    '"net 30 days"': {"inv-1"},
    '"30 net"': set(),
    '"days net"': set(),
    "invoice OR factura": {"inv-1", "draft-1", "fac-1"},
    "payment invoice OR receipt": {"inv-1", "draft-1", "inv-2"},
    "invoice -draft": {"inv-1"},
    "invoice NOT draft": {"inv-1"},
    'payment -"thirty days"': {"inv-1", "draft-1"},
    "invo*": {"inv-1", "draft-1"},
    "pay*": {"inv-1", "inv-2", "draft-1"},  # not "pago": a prefix is of the folded word
    '"net thir"*': {"inv-2"},
    "cafe": {"fac-1", "note-1"},
    "café": {"fac-1", "note-1"},
    "CAFÉ": {"fac-1", "note-1"},
    "nino": {"fac-1"},
    "niño": {"fac-1"},
    "logrono canería": {"es-2"},
    "numero 17": {"fac-1"},
    "e-mail": {"note-1"},
    '"e mail"': {"note-1"},
    "2026-031": {"inv-1"},
    "llanfair 1907": {"deed-1"},
    "notes": {"note-1"},  # the name is indexed too
    "house witnessed": {"deed-1"},
    "invoices": set(),  # no stemming: the same on both backends
    "globex": set(),  # another tenant's word
    "cheque OR espressos": set(),
}

HOSTILE = [
    "'; DROP TABLE search_index; --",
    "invoice' OR '1'='1",
    "name:invoice",
    "invoice) OR (1=1",
    "NEAR(invoice payment)",
    "invoice & payment | !draft",
    "\\x00 invoice",
    "invoice\x00",
    "a:* & b",
    "$$ invoice $$",
    "{invoice}",
    "invoice ^payment",
    "🙂 invoice",
    "invoice " * 60,
]


@pytest.fixture
async def search(database_url):
    database = await Database.open(database_url)
    adapter = (Fts5Search if database.dialect == "sqlite" else PostgresSearch)(SqlHandle(database))
    await adapter.create()
    yield adapter
    await database.close()


@pytest.fixture
async def filled(search):
    for document_id, tenant, name, text in DOCUMENTS:
        await search.index(document_id, tenant, name, text)
    return search


async def _ids(search, query, tenant="acme", limit=100):
    hits, _cursor = await search.query(query, tenant, limit)
    return {h.id for h in hits}


@pytest.mark.parametrize("query", sorted(EXPECTED))
async def test_the_same_queries_find_the_same_documents(filled, query):
    assert await _ids(filled, query) == EXPECTED[query]
    assert await filled.count(query, "acme") == len(EXPECTED[query])


async def test_tenants_see_only_their_own_and_the_operator_sees_all(filled):
    assert await _ids(filled, "invoice", "globex") == {"other-1"}
    assert await _ids(filled, "invoice", "") == set()  # documents of no tenant are their own scope
    assert await _ids(filled, "invoices", "") == {"free-1"}
    assert await _ids(filled, "invoice", "nobody") == set()
    assert await _ids(filled, "invoice", ALL_TENANTS) == {"inv-1", "draft-1", "other-1"}
    assert await filled.count("cafe", ALL_TENANTS) == 3


async def test_snippets_mark_the_matched_words(filled):
    hits, _ = await filled.query("cafe", "acme", 10)
    by_id = {h.id: h.snippet for h in hits}
    assert f"{MARK_OPEN}Café{MARK_CLOSE}" in by_id["fac-1"]
    assert f"{MARK_OPEN}cafe{MARK_CLOSE}" in by_id["note-1"]
    assert marked(by_id["note-1"], "[", "]").count("[cafe]") == 1
    assert all(h.rank > 0 for h in hits) or filled.backend == "sqlite"  # bm25 may be 0 for a common word


async def test_snippets_keep_text_that_looks_like_markup(search):
    # PostgreSQL's headline parser would drop "<b>" and "<x y>" as HTML tags; FTS5 keeps the text as it is.
    await search.index("m", "t", "letter.txt", "Dear <b>council</b>, the invoice &amp; a<b for <the bridge> works.")
    hits, _ = await search.query("invoice", "t", 10)
    shown = marked(hits[0].snippet, "[", "]")  # the last full stop is FTS5's only
    assert shown.startswith("Dear <b>council</b>, the [invoice] &amp; a<b for <the bridge> works"), shown


async def test_better_matches_rank_first_and_cursors_page_through_all(filled):
    hits, _ = await filled.query("invoice", "acme", 10)
    assert [h.rank for h in hits] == sorted((h.rank for h in hits), reverse=True)
    seen, cursor, pages = [], None, 0
    while True:
        hits, cursor = await filled.query("pay*", "acme", 1, cursor)
        seen.extend(h.id for h in hits)
        pages += 1
        if cursor is None:
            break
    assert pages == 3 and sorted(seen) == sorted(EXPECTED["pay*"])


async def test_reindex_and_remove(filled):
    await filled.index("inv-1", "acme", "invoice-2026-031.txt", "Now a credit note.")
    assert await _ids(filled, '"net 30 days"') == set()
    assert await _ids(filled, "credit") == {"inv-1"}
    await filled.remove("inv-1")
    assert await _ids(filled, "credit OR invoice") == {"draft-1"}
    await filled.remove("never-indexed")  # nothing to remove is not an error


@pytest.mark.parametrize("query", HOSTILE)
async def test_hostile_input_is_searched_as_words_or_refused_clearly(filled, query):
    try:
        hits, _ = await filled.query(query, "acme", 50)
    except SearchSyntaxError as exc:
        assert "is not valid" in exc.message and exc.hint
    else:
        assert all(h.id in {d[0] for d in DOCUMENTS if d[1] == "acme"} for h in hits)
    assert await _ids(filled, "invoice") == EXPECTED["invoice"]  # the index is intact


@pytest.mark.parametrize("query, reason", [
    ('"unclosed', "never closed"), ("invoice OR", "OR needs a word"), ("OR invoice", "OR needs a word"),
    ("-draft", "no words to look for"), ('""', "no words in it"), ("invoice NOT", "leaves nothing out"),
    ("invoice -draft OR receipt", "OR needs a word"), ("x" * 1001, "at most 1000"), ("--", "no words to look for"),
    (" ".join(f"w{i}" for i in range(65)), "more than 64"),
])
async def test_bad_syntax_says_what_is_wrong_on_both(search, query, reason):
    with pytest.raises(SearchSyntaxError, match=reason):
        await search.query(query, "acme", 10)
    with pytest.raises(SearchSyntaxError, match=reason):
        await search.count(query, "acme")


async def test_bad_cursor_and_limit_are_input_errors(filled):
    with pytest.raises(InputError, match="cursor"):
        await filled.query("invoice", "acme", 10, "not-a-cursor")
    with pytest.raises(InputError, match="1 to 1000"):
        await filled.query("invoice", "acme", 0)


async def test_a_phrase_does_not_run_from_the_name_into_the_text(search):
    await search.index("x", "t", "quarterly report", "summary of sales")
    assert await _ids(search, '"report summary"', "t") == set()
    assert await _ids(search, "report summary", "t") == {"x"}
    assert await _ids(search, '"quarterly report"', "t") == {"x"}


async def test_the_kernels_documents_are_indexed_by_triggers_in_the_same_transaction(tmp_path):
    path = tmp_path / "paperchain.db"
    migrate(path)
    database = await Database.open(f"sqlite+aiosqlite:///{path}")
    sql = SqlHandle(database)
    search = Fts5Search(sql)

    async def write(statement):
        await sql.write(sa.text(statement))

    try:
        await write("INSERT INTO documents (id, tenant, name, text) VALUES ('d1', 't1', 'Factura.txt', 'café con leche')")
        await write("INSERT INTO documents (id, tenant, name) VALUES ('d2', NULL, 'Notice.txt')")
        assert await _ids(search, "cafe", "t1") == {"d1"} and await _ids(search, "notice", "") == {"d2"}
        await write("UPDATE documents SET text = 'té verde' WHERE id = 'd1'")
        assert await _ids(search, "cafe", "t1") == set() and await _ids(search, "te", "t1") == {"d1"}
        await write("UPDATE documents SET metadata = '{}' WHERE id = 'd1'")  # not an indexed column
        await write("INSERT OR REPLACE INTO documents (id, tenant, name, text) VALUES ('d1', 't1', 'F.txt', 'agua')")
        assert await _ids(search, "te", "t1") == set() and await _ids(search, "agua", "t1") == {"d1"}
        await write("UPDATE documents SET deleted = 'now' WHERE id = 'd1'")
        assert await _ids(search, "agua", "t1") == set()
        await write("UPDATE documents SET deleted = NULL WHERE id = 'd1'")
        assert await _ids(search, "agua", "t1") == {"d1"}
        await write("DELETE FROM documents")
        counts = await sql.first(sa.text("SELECT (SELECT count(*) FROM search_documents) AS entries, "
                                         "(SELECT count(*) FROM search_fts) AS words"))
        assert (counts.entries, counts.words) == (0, 0)
    finally:
        await database.close()


def _ocr_texts() -> dict[str, str]:
    """The OCR text of the shared sample scans (typewritten Dutch, a multilingual Basque map)."""
    import shutil
    import subprocess
    from pathlib import Path

    folder = Path("/work/shared/testdata/documents")
    if shutil.which("tesseract") is None or not folder.exists():
        pytest.skip("needs tesseract (apt-get install tesseract-ocr) and the shared sample documents")
    return {name: subprocess.run(["tesseract", str(folder / name), "-"], capture_output=True, text=True,
                                 timeout=120, check=True).stdout for name in ("typewriter.png", "baiona.png")}


@pytest.fixture(scope="module")
def ocr_texts():
    return _ocr_texts()


def _reference(entries, term_words: tuple[str, ...], prefix: bool) -> set[str]:
    """What the grammar promises for one term: the words in a row in the name or in the text."""
    from paperchain.store.search.grammar import words

    def found(tokens: list[str]) -> bool:
        n = len(term_words)
        for at in range(len(tokens) - n + 1):
            run = tokens[at:at + n]
            if run[:-1] == list(term_words[:-1]) and (run[-1].startswith(term_words[-1]) if prefix
                                                      else run[-1] == term_words[-1]):
                return True
        return False

    return {doc_id for doc_id, name, text in entries if found(words(name)) or found(words(text))}


async def test_ocr_text_words_phrases_and_prefixes_match_the_grammars_promise(search, ocr_texts):
    from paperchain.store.search.grammar import words

    entries = [(d[0], d[2], d[3]) for d in DOCUMENTS] + [(name, name, text) for name, text in ocr_texts.items()]
    for doc_id, name, text in entries:
        await search.index(doc_id, "t", name, text)
    tokens = [w for _name, text in ocr_texts.items() for w in words(text)]
    assert len(tokens) > 100  # the OCR read real text
    checks = sorted(set(tokens))[:120]
    terms = [((w,), False) for w in checks] + [((w[:3],), True) for w in checks[::4]]
    terms += [(tuple(tokens[at:at + 2]), False) for at in range(0, min(len(tokens) - 1, 200), 5)]
    for term_words, prefix in terms:
        query = '"' + " ".join(term_words) + '"' + ("*" if prefix else "")
        hits, _ = await search.query(query, "t", 100)
        assert {h.id for h in hits} == _reference(entries, term_words, prefix), query
