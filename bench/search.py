"""Full-text search on both backends: the FTS5 adapter and the PostgreSQL adapter (store/search/)
over the same 20,000 documents, and the naive peer a user would write instead (a ``LIKE`` scan of
the same rows in SQLite), in one run.

The documents are generated with a fixed seed: invoices, receipts, letters and contracts in English
(70 %) and Spanish (30 %), 80-400 words each drawn from a Zipf-like vocabulary (accents included),
with company names, amounts and dates, spread over 5 tenants. Each query of a fixed set (common and
rare words, AND, a phrase, OR, exclusion, prefix, accents) runs as one tenant for its first 20 hits
with snippets, ``--rounds`` times per backend, the backends taking turns; figures are p50 and p95
milliseconds per query, and the time to index the documents. PostgreSQL is a throwaway durable
server (fsync on) from Debian's ``postgresql`` on loopback; SQLite is WAL with synchronous=NORMAL.
The LIKE peer matches substrings of ``lower(name || text)``, unranked and without accent folding,
and stops at the first 20 rows: what a user gets without a search index.

    .venv/bin/python bench/search.py              # 20,000 documents, 20 rounds
    .venv/bin/python bench/search.py --quick      # 2,000 documents, 5 rounds

Results: bench/results/search.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "core"))

from paperchain.store.search import Entry  # noqa: E402 - found through the path set above
from paperchain.store.search.grammar import parse  # noqa: E402

SEED = 15
TENANTS = ("north", "south", "east", "west", "central")


def _vocabulary(text: str) -> tuple[str, ...]:
    return tuple(text.split())


ENGLISH = _vocabulary("the of and to in for on with by from is are was this that invoice payment total amount due date "
           "account bank transfer customer supplier order delivery goods services tax vat net days terms "
           "contract agreement party parties clause signed witness property house land sale price receipt "
           "received thank you letter dear sincerely regards meeting council report quarterly summary sales "
           "revenue cost expense budget project office building repair maintenance water heating electricity "
           "insurance policy claim damage inspection certificate registration company limited number reference "
           "please find attached copy original statement balance credit debit note refund discount shipping "
           "freight warehouse stock inventory product quantity unit weight package address street city county "
           "parish year month week schedule deadline approval manager director secretary committee minutes "
           "agenda proposal estimate quotation tender award notice legal court judgment appeal evidence")
SPANISH = _vocabulary("el la de y en que los las por con para del al una un es se su factura pago importe total fecha "
           "vencimiento cuenta banco transferencia cliente proveedor pedido entrega mercancía servicios "
           "impuesto iva neto días plazo contrato acuerdo parte partes cláusula firmado testigo propiedad casa "
           "terreno venta precio recibo recibido gracias carta estimado señor atentamente saludos reunión "
           "ayuntamiento informe trimestral resumen ventas ingresos coste gasto presupuesto proyecto oficina "
           "edificio reparación mantenimiento agua calefacción electricidad seguro póliza reclamación daños "
           "inspección certificado registro compañía número referencia adjunto copia original extracto saldo "
           "crédito débito nota reembolso descuento envío almacén existencias producto cantidad unidad peso "
           "dirección calle ciudad año mes semana calendario aprobación gerente director secretaria comité "
           "acta orden propuesta presupuesto licitación aviso tribunal sentencia cañería niño café logroño")
COMPANIES = ("Acme", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay", "Wonka", "Stark", "Wayne", "Tyrell",
             "Nakatomi", "Soylent", "Cyberdyne", "Gringotts", "Monsters", "Pied Piper", "Dunder Mifflin",
             "Ibérica", "Pescanova", "Telefónica")
KINDS = {"en": ("invoice", "receipt", "letter", "contract", "report"), "es": ("factura", "recibo", "carta", "contrato", "informe")}
QUERIES = ("invoice", "payment terms", '"net 30 days"', "factura OR invoice", "contract -draft", "insur*",
           "cafe", "café niño", "cañería", "Wonka delivery", '"quarterly report"', "refund discount shipping",
           "tribunal sentencia", "Nakatomi", "xylophone")


def documents(count: int) -> list[Entry]:
    rng = random.Random(SEED)
    weights = {lang: [1 / (rank + 1) ** 1.1 for rank in range(len(words))]
               for lang, words in (("en", ENGLISH), ("es", SPANISH))}
    out = []
    for n in range(count):
        lang = "en" if rng.random() < 0.7 else "es"
        vocabulary = ENGLISH if lang == "en" else SPANISH
        words = rng.choices(vocabulary, weights[lang], k=rng.randint(80, 400))
        for _ in range(rng.randint(1, 4)):  # a company, an amount, a date, a phrase
            at = rng.randrange(len(words))
            words[at:at] = rng.choice((
                [rng.choice(COMPANIES)], [f"{rng.randint(10, 99_999)}.{rng.randint(0, 99):02d}"],
                [f"{rng.randint(1, 28)}/{rng.randint(1, 12)}/{rng.randint(1990, 2026)}"],
                ["net", "30", "days"] if lang == "en" else ["treinta", "días"],
                ["draft"] if lang == "en" else ["borrador"]))
        sentences, at = [], 0
        while at < len(words):
            size = rng.randint(6, 18)
            sentence = " ".join(words[at:at + size])
            sentences.append(sentence[:1].upper() + sentence[1:] + ".")
            at += size
        kind = rng.choice(KINDS[lang])
        out.append(Entry(f"doc-{n:06d}", TENANTS[n % len(TENANTS)], f"{kind}-{2000 + n % 27}-{n:05d}.pdf",
                         " ".join(sentences)))
    return out


def _like(query: str):
    """The LIKE scan a user would write for ``query`` (same words, substring match)."""
    parsed, where, values = parse(query), [], []
    for group in parsed.groups:
        where.append("(" + " OR ".join("lower(name || ' ' || text) LIKE ?" for _ in group) + ")")
        values.extend(f"%{' '.join(t.words)}%" for t in group)
    for term in parsed.excluded:
        where.append("lower(name || ' ' || text) NOT LIKE ?")
        values.append(f"%{' '.join(term.words)}%")
    return f"SELECT id FROM plain WHERE tenant = ? AND {' AND '.join(where)} LIMIT 20", values


async def main(args) -> dict:
    import aiosqlite

    from paperchain.store.database import Database
    from paperchain.store.search.fts5 import Fts5Search
    from paperchain.store.search.postgres import PostgresSearch
    from paperchain.store.sql import SqlHandle
    from paperchain_sdk.testing.postgres import PostgresCluster, find_bin_dir

    bin_dir = find_bin_dir()
    if bin_dir is None:
        sys.exit("PostgreSQL is not installed: apt-get install postgresql")
    entries = documents(args.documents)
    folder = Path(tempfile.mkdtemp(prefix="paperchain-search-bench-"))
    cluster = PostgresCluster(bin_dir, durable=True).start()
    result: dict = {"documents": len(entries), "rounds": args.rounds, "queries": list(QUERIES)}
    try:
        # Each adapter on its database's SqlHandle, as the kernel runs it (kernel.sql); the LIKE peer on
        # a plain aiosqlite connection to the same SQLite file.
        sqlite_database = await Database.open(f"sqlite+aiosqlite:///{folder / 'search.db'}", synchronous="NORMAL")
        sqlite = await aiosqlite.connect(folder / "search.db", isolation_level=None)
        database = await Database.open(cluster.create_database("bench"))
        backends = {"sqlite-fts5": Fts5Search(SqlHandle(sqlite_database)), "postgresql": PostgresSearch(SqlHandle(database))}
        indexing = {}
        for label, search in backends.items():
            await search.create()
            started = time.perf_counter()
            for at in range(0, len(entries), 1000):
                await search.index_many(entries[at:at + 1000])
            indexing[label] = time.perf_counter() - started
        from sqlalchemy import text

        await backends["postgresql"].sql.write(text("ANALYZE search_index"))
        await sqlite.execute("CREATE TABLE plain (id TEXT PRIMARY KEY, tenant TEXT, name TEXT, text TEXT)")
        await sqlite.executemany("INSERT INTO plain VALUES (?, ?, ?, ?)",
                                 [(e.document_id, e.tenant, e.name, e.text) for e in entries])

        async def like(query: str, tenant: str) -> int:
            sql, values = _like(query)
            async with sqlite.execute(sql, (tenant, *values)) as cursor:
                return len(await cursor.fetchall())

        timings: dict[str, dict[str, list[float]]] = {k: {q: [] for q in QUERIES} for k in (*backends, "sqlite-like")}
        counts: dict[str, dict[str, int]] = {k: {} for k in backends}
        for label, search in backends.items():  # warm up, and check both find the same documents
            for query in QUERIES:
                counts[label][query] = await search.count(query, TENANTS[0])
        for round_ in range(args.rounds):
            tenant = TENANTS[round_ % len(TENANTS)]
            for label in (*backends, "sqlite-like"):
                for query in QUERIES:
                    started = time.perf_counter()
                    if label == "sqlite-like":
                        await like(query, tenant)
                    else:
                        await backends[label].query(query, tenant, 20)
                    timings[label][query].append((time.perf_counter() - started) * 1000)
        await sqlite.close()
        await sqlite_database.close()
        await database.close()
    finally:
        cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)
    result["index_seconds"] = {k: round(v, 2) for k, v in indexing.items()}
    result["same_hit_counts"] = counts["sqlite-fts5"] == counts["postgresql"]
    result["hit_counts"] = counts
    result["ms"] = {}
    for label, per_query in timings.items():
        every = [t for times in per_query.values() for t in times]
        result["ms"][label] = {"p50": round(statistics.median(every), 3),
                               "p95": round(statistics.quantiles(every, n=20)[-1], 3),
                               "per_query_p50": {q: round(statistics.median(t), 3) for q, t in per_query.items()}}
    return result


def report(result: dict) -> None:
    print(f"{result['documents']:,} documents, {len(result['queries'])} queries x {result['rounds']} rounds, "
          f"first 20 hits of one tenant (with snippets)")
    print("index build: " + ", ".join(f"{k} {v:.1f} s" for k, v in result["index_seconds"].items()))
    print(f"same hit counts on both backends: {result['same_hit_counts']}")
    print(f"{'query':28} " + " ".join(f"{k:>12}" for k in result["ms"]) + "   (p50 ms)  hits fts5/pg")
    for query in result["queries"]:
        print(f"{query:28} " + " ".join(f"{v['per_query_p50'][query]:12.2f}" for v in result["ms"].values())
              + f"   {result['hit_counts']['sqlite-fts5'][query]}/{result['hit_counts']['postgresql'][query]}")
    fts5 = result["ms"]["sqlite-fts5"]
    for label, figures in result["ms"].items():
        print(f"{label:14} p50 {figures['p50']:8.2f} ms  p95 {figures['p95']:8.2f} ms  "
              f"p50 vs FTS5 {figures['p50'] / fts5['p50']:.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="2,000 documents, 5 rounds")
    options = parser.parse_args()
    if options.quick:
        options.documents, options.rounds = 2_000, 5
    figures = asyncio.run(main(options))
    report(figures)
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "search.json").write_text(json.dumps(figures, indent=2))
