"""``ai.local``: a GGUF model run in this process by llama-cpp-python (``paperchain-ai[local]``).

llama.cpp's context is not thread-safe, so a process holds one model and one lock: every
generation runs in a worker thread holding it, and the event loop never waits on the CPU. A JSON
Schema becomes a grammar (llama.cpp's GBNF) that decoding cannot leave.

The default model, Gemma 3 270M, has no chat template in its file: it is driven with
llama-cpp-python's ``gemma`` chat format, which drops system messages, so they are folded into
the first user message.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import json
import logging
import re
import threading
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from paperchain_sdk import ConfigError, InputError, MissingDependency

from ..settings import LocalModelSettings
from . import gemma
from .base import ChatAnswer, ChatProvider, ChatRequest, defuse_control_tokens, system_into_user
from .prompt_model import PromptModel

log = logging.getLogger(__name__)
INSTALL_HINT = ("""CMAKE_ARGS="-DLLAVA_BUILD=OFF" pip install 'paperchain-ai[local]' """
                "(llama-cpp-python builds from source, a few minutes)")

_lock = threading.Lock()  # llama.cpp is not thread-safe: one load or generation at a time
_loaded: dict[tuple, Any] = {}  # at most one (key -> Llama): a process holds one model


def _unload(wait: float = -1) -> None:
    if not _lock.acquire(timeout=wait):
        return  # at exit, a generation still running in a daemon thread: leave it to the OS
    try:
        for model in _loaded.values():
            model.close()
        _loaded.clear()
    finally:
        _lock.release()


# Freed before the interpreter tears llama_cpp's module down (a Llama freed after that complains).
atexit.register(_unload, 5.0)


def _llama_cpp():
    try:
        import llama_cpp
    except ImportError:
        raise MissingDependency("ai.local needs llama-cpp-python, which is not installed.", hint=INSTALL_HINT) from None
    return llama_cpp


REPEAT_LIMIT = 1000  # llama.cpp refuses grammars that repeat a rule much more (4000 is refused)
_QUANTIFIER = re.compile(r"\{(\d+)(?:,(\d*))?\}")


def _check_repeats(node: Any) -> None:
    """Refuse a schema whose lengths or counts would be spelled out as a huge grammar (the converter
    writes each repetition out: a maxLength of 10**9 would fill the memory before llama.cpp refuses it)."""
    if isinstance(node, dict):
        for key in ("maxLength", "minLength", "maxItems", "minItems"):
            if isinstance(node.get(key), (int, float)) and node[key] > REPEAT_LIMIT:
                raise InputError(f"the JSON Schema's {key} of {node[key]} is more than ai.local's grammar can hold "
                                 f"({REPEAT_LIMIT}).", hint=f"lower {key} or drop it (answers are validated anyway)")
        pattern = node.get("pattern")
        if isinstance(pattern, str) and any(int(n or 0) > REPEAT_LIMIT for match in _QUANTIFIER.finditer(pattern)
                                            for n in match.groups()):
            raise InputError(f"the JSON Schema's pattern {pattern[:80]!r} repeats more than {REPEAT_LIMIT} times.",
                             hint="lower its {n,m} counts")
        for value in node.values():
            _check_repeats(value)
    elif isinstance(node, list):
        for value in node:
            _check_repeats(value)


@functools.lru_cache(maxsize=64)
def _grammar(schema_json: str):
    """The GBNF grammar of a JSON Schema (converting is not free, and steps reuse their schema)."""
    from llama_cpp.llama_grammar import JSON_GBNF, LlamaGrammar

    try:
        return LlamaGrammar.from_json_schema(schema_json, verbose=False)
    except Exception as exc:  # noqa: BLE001 - the converter raises bare Exceptions; any JSON is still constrained
        log.warning("ai.local: the JSON Schema could not become a grammar (%s); constraining to any JSON", exc)
        return LlamaGrammar.from_string(JSON_GBNF, verbose=False)


def _check_grammar(model, grammar) -> None:
    """llama.cpp refuses some grammars (a large maxLength repeats a rule thousands of times), and
    llama-cpp-python then samples with a null grammar and crashes the process: parse it first."""
    import llama_cpp

    sampler = llama_cpp.llama_sampler_init_grammar(model._model.vocab, grammar._grammar.encode("utf-8"),
                                                   grammar._root.encode("utf-8"))
    if not sampler:
        raise InputError("the JSON Schema is too large for llama.cpp's grammar (a long maxLength or maxItems "
                         "repeats a rule too many times).",
                         hint="lower maxLength/maxItems to a few hundred or drop them (answers are validated anyway)")
    llama_cpp.llama_sampler_free(sampler)


class LocalModel(ChatProvider, PromptModel):
    name = "ai.local"

    def __init__(self, settings: LocalModelSettings | None = None):
        super().__init__(settings or LocalModelSettings())

    # -- the model --------------------------------------------------------------------------------

    def model_file(self) -> Path:
        if not self.settings.model_path:
            return gemma.default_model(gemma.cache_dir(self.settings.cache_dir))
        path = Path(self.settings.model_path).expanduser()
        if not path.is_file():
            raise ConfigError(f"ai.local's model_path {path} is not a file.", hint="give the path of a .gguf model file")
        return path

    def chat_format(self) -> str | None:
        # The default Gemma file has no template; another GGUF uses its own unless told.
        return self.settings.chat_format or (None if self.settings.model_path else "gemma")

    def key(self) -> tuple:
        s = self.settings
        return (str(self.model_file()), self.chat_format(), s.n_ctx, s.threads)

    def llama(self):
        """The process's model for these settings, loaded on first use (call holding ``_lock``)."""
        key = self.key()
        if key in _loaded:
            return _loaded[key]
        llama_cpp = _llama_cpp()
        for old in _loaded.values():  # a process holds one model
            old.close()
        _loaded.clear()
        path, chat_format, n_ctx, threads = key
        try:
            model = llama_cpp.Llama(model_path=path, n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads,
                                    chat_format=chat_format, verbose=False)
        except ValueError as exc:
            raise ConfigError(f"ai.local could not load {path}: {exc}.", hint="model_path must be a GGUF file llama.cpp can read") from None
        _loaded[key] = model
        return model

    # -- asking it --------------------------------------------------------------------------------

    def arguments(self, request: ChatRequest) -> dict[str, Any]:
        gemma_format = self.chat_format() == "gemma"
        messages = defuse_control_tokens(system_into_user(request.messages) if gemma_format else request.messages)
        arguments: dict[str, Any] = {"messages": messages, "max_tokens": request.max_tokens,
                                     "temperature": request.temperature, "seed": request.seed,
                                     "stop": list(request.stop)}
        if request.schema is not None:
            arguments["grammar"] = _grammar(json.dumps(request.schema))
        if request.tools:
            arguments["tools"] = [dict(tool) for tool in request.tools]
            arguments["tool_choice"] = request.tool_choice
        return arguments

    def _generate(self, request: ChatRequest, stream: bool):
        if request.schema is not None:
            _check_repeats(request.schema)  # before anything is loaded or converted
        model = self.llama()
        # Forget the last prompt: reusing its cached prefix changes the arithmetic slightly, and at
        # temperature 0 the same request must give the same answer.
        model.reset()
        arguments = self.arguments(request)
        if "grammar" in arguments:
            _check_grammar(model, arguments["grammar"])
        try:
            return model.create_chat_completion(**arguments, stream=stream)
        except ValueError as exc:  # llama-cpp-python says "Requested tokens (n) exceed context window of m"
            raise InputError(f"ai.local could not answer: {exc}.",
                             hint="shorten the prompt or max_tokens, or raise n_ctx") from None

    def _chat(self, request: ChatRequest) -> ChatAnswer:
        with _lock:
            data = self._generate(request, stream=False)
        choice = data["choices"][0]
        usage = data.get("usage") or {}
        return ChatAnswer(text=choice["message"].get("content") or "", model=Path(str(data.get("model", ""))).name,
                          prompt_tokens=usage.get("prompt_tokens", 0), completion_tokens=usage.get("completion_tokens", 0),
                          finish_reason=choice.get("finish_reason") or "stop",
                          tool_calls=choice["message"].get("tool_calls") or ())

    async def chat(self, request: ChatRequest) -> ChatAnswer:
        return await asyncio.to_thread(self._chat, request)

    async def stream(self, request: ChatRequest) -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        stop = threading.Event()  # set when the reader goes away: the worker ends after its next token
        done = object()

        def put(item) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop closed under us: nobody is reading
                stop.set()

        def work() -> None:
            try:
                with _lock:
                    for chunk in self._generate(request, stream=True):
                        if stop.is_set():
                            break
                        text = chunk["choices"][0]["delta"].get("content") if chunk["choices"] else None
                        if text:
                            put(text)
            except BaseException as exc:  # noqa: BLE001 - handed to the reader, who raises it
                put(exc)
            finally:
                put(done)

        threading.Thread(target=work, name="ai.local", daemon=True).start()
        try:
            while (item := await queue.get()) is not done:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()

    # -- scoring given texts ----------------------------------------------------------------------

    can_score = True

    def _score(self, prompt: str, continuations: Sequence[str]) -> list[list[float]]:
        """The prompt is evaluated once; each continuation is then evaluated after it (one batch,
        a log-probability read at every token) and dropped again: the prompt's KV cache is kept, so
        a label costs its own tokens only. Tokenized as plain text: a control token spelled in a
        document stays text."""
        with _lock:
            model = self.llama()
            model.reset()
            context = model.tokenize(prompt.encode("utf-8"), add_bos=True, special=False)
            tails = [_continuation_tokens(model, prompt, context, text) for text in continuations]
            needed = len(context) + max((len(tail) for tail in tails), default=0)
            if needed > model.n_ctx():
                raise InputError(f"ai.local could not score: the prompt and answer take {needed} tokens, more than "
                                 f"the context window of {model.n_ctx()}.", hint="shorten the text (max_chars) or raise n_ctx")
            model.eval(context)
            first = _token_logprobs(model, [tail[0] for tail in tails], same_row=True)
            scores = []
            for tail, first_logprob in zip(tails, first, strict=True):
                logprobs = [first_logprob]
                for start in range(0, len(tail) - 1, _ROWS):  # each token's logits give the next one's log-probability
                    piece = tail[start: min(len(tail) - 1, start + _ROWS)]
                    _decode_all(model, piece)
                    logprobs += _token_logprobs(model, tail[start + 1: start + 1 + len(piece)])
                model.n_tokens = len(context)  # back to the prompt: the next decode drops this tail's cache
                scores.append(logprobs)
            return scores

    async def score(self, prompt: str, continuations: Sequence[str]) -> list[list[float]]:
        return await asyncio.to_thread(self._score, prompt, list(continuations))

    def scoring_model(self) -> str:
        return self.model_file().name

    async def close(self) -> None:
        await asyncio.to_thread(_unload)


def _continuation_tokens(model, prompt: str, context: list[int], text: str) -> list[int]:
    """The tokens ``text`` adds after ``prompt``, as the whole would be tokenized (a leading space
    joins the word, as in running text); tokenized alone where the two do not split cleanly."""
    whole = model.tokenize((prompt + text).encode("utf-8"), add_bos=True, special=False)
    if whole[: len(context)] == context and len(whole) > len(context):
        return whole[len(context):]
    return model.tokenize(text.encode("utf-8"), add_bos=False, special=False)


_ROWS = 64  # tokens decoded at once while scoring: each brings a row of logits as long as the vocabulary


def _decode_all(model, tokens: list[int]) -> None:
    """Decode ``tokens`` after the model's current ones, keeping the logits of every one of them
    (``Llama.eval`` keeps only the last one's unless the model was loaded with logits_all)."""
    model._ctx.kv_cache_seq_rm(-1, model.n_tokens, -1)
    model._batch.set_batch(batch=tokens, n_past=model.n_tokens, logits_all=True)
    model._ctx.decode(model._batch)
    model.input_ids[model.n_tokens: model.n_tokens + len(tokens)] = tokens
    model.n_tokens += len(tokens)


def _token_logprobs(model, targets: list[int], same_row: bool = False) -> list[float]:
    """The log-probabilities of ``targets`` under the last decode's logits: row i for targets[i]
    (the next token of each decoded one), or the one row of the last token for all of them."""
    import numpy as np

    rows = 1 if same_row else len(targets)
    logits = np.ctypeslib.as_array(model._ctx.get_logits(), shape=(rows, model.n_vocab()))
    peak = logits.max(axis=1, keepdims=True)
    normalizer = (peak[:, 0] + np.log(np.exp(logits - peak).sum(axis=1, dtype=np.float64))).tolist()
    if same_row:
        return [float(logits[0, t]) - normalizer[0] for t in targets]
    return [float(logits[i, t]) - normalizer[i] for i, t in enumerate(targets)]
