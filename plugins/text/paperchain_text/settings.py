"""Options of the text analyzers: light attrs classes (listing plugins imports nothing heavy).

Every field has a default. Validators raise ValueError saying what is allowed; the SDK turns that
into a ConfigError naming the step or table the value came from.
"""

from __future__ import annotations

import attrs

from paperchain_sdk.settings import between

LANGUAGE_CHOICES = ("auto", "en", "es")
SCHEMES = ("fnv1a-affine32", "datasketch-affine32")


def _language(instance, attribute, value):
    if value != "auto" and (len(value) != 2 or not value.isalpha() or not value.islower()):
        raise ValueError(f"{attribute.name} must be 'auto' or a two-letter ISO 639-1 code such as 'en' or 'es', "
                         f"got {value!r}")


def _max_chars():
    return attrs.field(default=1_000_000, validator=between(1_000, 100_000_000))


@attrs.frozen(kw_only=True)
class LanguageSettings:
    """candidates: how many languages to report with their probabilities.
    max_chars: only the first max_chars characters are examined (plenty to tell a language)."""

    candidates: int = attrs.field(default=3, validator=between(1, 10))
    max_chars: int = attrs.field(default=20_000, validator=between(100, 10_000_000))


@attrs.frozen(kw_only=True)
class KeywordsSettings:
    """top: keywords to return; max_ngram: longest keyword in words; language: 'auto' detects it."""

    top: int = attrs.field(default=10, validator=between(1, 100))
    max_ngram: int = attrs.field(default=2, validator=between(1, 4))
    language: str = attrs.field(default="auto", validator=_language)
    max_chars: int = attrs.field(default=200_000, validator=between(1_000, 10_000_000))


@attrs.frozen(kw_only=True)
class EntitiesSettings:
    """region: where phone numbers without a +country prefix are assumed to be (ISO 3166 code).
    limit: at most this many entities of each kind are listed (counts are always complete).
    named: also people, organisations and places in English text (spaCy's model, the ``nlp`` extra).
    named_max_chars: the model reads at most this many characters (about 25,000 a second on one core)."""

    region: str = attrs.field(default="US")
    limit: int = attrs.field(default=100, validator=between(1, 10_000))
    max_chars: int = _max_chars()
    named: bool = True
    named_max_chars: int = attrs.field(default=200_000, validator=between(1_000, 100_000_000))

    @region.validator
    def _region(self, attribute, value):
        # The full check (a region phonenumbers knows) happens when the analyzer runs.
        if len(value) != 2 or not value.isalpha():
            raise ValueError(f"region must be a two-letter ISO 3166 country code (e.g. 'US', 'ES', 'DE'), got {value!r}")


@attrs.frozen(kw_only=True)
class StatsSettings:
    """most_common: how many of the most frequent words to list."""

    most_common: int = attrs.field(default=10, validator=between(0, 1_000))


@attrs.frozen(kw_only=True)
class SentimentSettings:
    """language: 'auto' (detected), 'en' (VADER) or 'es' (a Spanish opinion lexicon under VADER's rules)."""

    language: str = attrs.field(default="auto", validator=attrs.validators.in_(LANGUAGE_CHOICES))
    max_chars: int = attrs.field(default=200_000, validator=between(1_000, 10_000_000))


@attrs.frozen(kw_only=True)
class SummarySettings:
    """sentences: length of the summary; max_sentences: longer texts are ranked on their first ones;
    damping: PageRank's damping factor."""

    sentences: int = attrs.field(default=3, validator=between(1, 100))
    max_sentences: int = attrs.field(default=2_000, validator=between(2, 20_000))
    damping: float = attrs.field(default=0.85, validator=between(0.01, 0.99))


@attrs.frozen(kw_only=True)
class ReadabilitySettings:
    """language: 'auto' (detected), or a two-letter code textstat supports (en, es, de, fr, it, nl, ru …)."""

    language: str = attrs.field(default="auto", validator=_language)
    max_chars: int = attrs.field(default=500_000, validator=between(1_000, 10_000_000))


def _no_index_path(instance, attribute, value):
    if value:
        raise ValueError(
            f"index_path is no longer supported (got {value!r}): the near-duplicate index lives in the "
            "deployment's database (the host's plugin storage). Remove index_path and run text.near_duplicates "
            "over the documents again to index them there (the text plugin's README says how)")


@attrs.frozen(kw_only=True)
class NearDuplicatesSettings:
    """threshold: smallest estimated Jaccard similarity reported; limit: most matches listed;
    add: insert the document in the index (False only queries);
    index_path: no longer accepted (the index lives in the deployment's database, tables text_*;
    see the plugin's README on moving an index file's documents there).
    num_perm, bands, seed, scheme, shingle_size: the index's parameters, fixed when it is created.
    scheme 'datasketch-affine32' gives signatures bit-identical to datasketch 2.x's MinHash."""

    threshold: float = attrs.field(default=0.5, validator=between(0.01, 1.0))
    limit: int = attrs.field(default=20, validator=between(1, 1_000))
    add: bool = True
    index_path: str = attrs.field(default="", validator=_no_index_path)
    num_perm: int = attrs.field(default=128, validator=between(8, 1024))
    bands: int = attrs.field(default=42, validator=between(1, 1024))
    seed: int = attrs.field(default=1, validator=between(0, 2**32 - 1))
    scheme: str = attrs.field(default="fnv1a-affine32", validator=attrs.validators.in_(SCHEMES))
    shingle_size: int = attrs.field(default=3, validator=between(1, 16))

    @bands.validator
    def _bands(self, attribute, value):
        if value > self.num_perm:
            raise ValueError(f"bands ({value}) cannot exceed num_perm ({self.num_perm})")
