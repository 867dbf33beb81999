"""Paperchain text analyzers: language, keywords, entities, sentiment, summary, readability,
statistics and MinHash near-duplicates.

This module is what the ``paperchain`` entry point loads, so it stays light: implementations are
named by import string; numpy, numba, langdetect, yake, phonenumbers … load on first use.
"""

from __future__ import annotations

from paperchain_sdk import AnalyzerSpec, hookimpl

from .settings import (
    EntitiesSettings,
    KeywordsSettings,
    LanguageSettings,
    NearDuplicatesSettings,
    ReadabilitySettings,
    SentimentSettings,
    StatsSettings,
    SummarySettings,
)

__version__ = "0.1.0"


@hookimpl
def paperchain_analyzers():
    return [
        AnalyzerSpec(name="text.language", impl="paperchain_text.language:LanguageAnalyzer",
                     summary="The text's language (langdetect, fixed seed) with candidate probabilities",
                     settings=LanguageSettings, cpu_bound=True, deterministic=True),
        AnalyzerSpec(name="text.keywords", impl="paperchain_text.keywords:KeywordsAnalyzer",
                     summary="Key phrases by YAKE, with the language's stop words",
                     settings=KeywordsSettings, cpu_bound=True, deterministic=True),
        AnalyzerSpec(name="text.entities", impl="paperchain_text.entities:EntitiesAnalyzer",
                     summary="Validated emails, URLs, phone numbers, dates, money, IBANs (mod-97) and EU VAT numbers",
                     settings=EntitiesSettings, cpu_bound=True, deterministic=True),
        AnalyzerSpec(name="text.sentiment", impl="paperchain_text.sentiment:SentimentAnalyzer",
                     summary="Sentiment in [-1, 1]: VADER for English, a Spanish opinion lexicon under VADER's rules",
                     settings=SentimentSettings, cpu_bound=True, deterministic=True),
        AnalyzerSpec(name="text.summary", impl="paperchain_text.summary:SummaryAnalyzer",
                     summary="Extractive summary: the top sentences by TextRank (Numba kernels)",
                     settings=SummarySettings, cpu_bound=True, deterministic=True),
        AnalyzerSpec(name="text.readability", impl="paperchain_text.readability:ReadabilityAnalyzer",
                     summary="Readability indices by language (textstat): Flesch, Fernández Huerta …",
                     settings=ReadabilitySettings, cpu_bound=True, deterministic=True),
        AnalyzerSpec(name="text.stats", impl="paperchain_text.stats:StatsAnalyzer",
                     summary="Characters, words, sentences, paragraphs, lexical diversity, frequent words",
                     settings=StatsSettings, deterministic=True),
        # Async, not cpu_bound: it runs on the kernel's event loop, bound to that kernel by
        # paperchain_startup, and reads and writes the index in the kernel's plugin storage.
        AnalyzerSpec(name="text.near_duplicates", impl="paperchain_text.near_duplicates:NearDuplicatesAnalyzer",
                     summary="MinHash signature in an LSH index (plugin storage); returns documents with similar text",
                     settings=NearDuplicatesSettings),
    ]


@hookimpl
def paperchain_startup(kernel):
    from paperchain_sdk.contracts import bind_kernel

    bind_kernel(kernel, "text.near_duplicates")  # its index is this kernel's (plugin storage)


@hookimpl
def paperchain_routes(kernel):
    # module-level handlers (they find the kernel with kernel_of); imports aiohttp, so only when asked
    from .routes import routes

    return list(routes)


@hookimpl
def paperchain_ui(kernel):
    from .ui import plugin_ui

    return plugin_ui()
