"""``paperchain ai ask`` and ``paperchain ai chat`` through click, on a kernel opened from a data
directory as the ``paperchain`` command opens it (the plugins given here, a scripted model)."""

from __future__ import annotations

import json

import click
import pytest
from click.testing import CliRunner

import paperchain_ai
from paperchain_ai.cli import ai
from paperchain_ai.testing import scripted_plugin
from paperchain_sdk.cli import OPENER_KEY

EMBED = {"name": "embed", "steps": [{"id": "text", "uses": "document.text"},
                                   {"id": "embed", "uses": "ai.embed", "needs": ["text"]}]}


@pytest.fixture
def command_line(paperchain_kernel):
    """``(invoke, provider)``: ``invoke(*args, input=None)`` runs ``paperchain ai ARGS`` on the data
    directory of a kernel that embedded the lease; ``provider`` is its scripted model."""
    from paperchain.cli.common import with_open_kernel
    from paperchain.kernel import Kernel

    made = {}

    def prepare(script, files=()):
        provider = scripted_plugin(script)
        config = {"components": {"ai.answer": {"provider": provider.name}, "ai.generate": {"provider": provider.name}}}
        harness = paperchain_kernel(paperchain_ai, provider, config=config)
        if files:
            assert harness.run(EMBED, files=list(files)).status == "succeeded"
        harness.close()

        @click.group()
        @click.pass_context
        def root(ctx):
            ctx.meta["kernel"] = Kernel(harness.config, plugins=[paperchain_ai, provider])
            ctx.meta[OPENER_KEY] = with_open_kernel

        root.add_command(ai)
        made["root"] = root
        return provider

    def invoke(*args, input=None):
        return CliRunner().invoke(made["root"], ["ai", *args], input=input)

    return prepare, invoke


def test_ask_answers_with_its_sources(command_line, tmp_path, texts):
    prepare, invoke = command_line
    lease = tmp_path / "lease.txt"
    lease.write_text(texts["lease_en"], encoding="utf-8")
    provider = prepare([json.dumps({"answer": "On the first day of each month."})] * 2, files=[lease])
    result = invoke("ask", "When is the rent due for the apartment on Elm Street?", "--json")
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    assert answer["found"] is True and answer["answer"] == "On the first day of each month."
    assert answer["mode"] == "generated" and answer["model"] == "test.scripted"
    rent = texts["lease_en"]  # the sentence on the rent with its neighbour
    assert [(c["name"], c["quote"]) for c in answer["citations"]] == [("lease.txt", rent)]
    assert rent in provider.requests[0].messages[0]["content"]

    # Without --json: the answer, how it was made, and each source with the sentence quoted.
    result = invoke("ask", "When is the rent due for the apartment on Elm Street?")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "On the first day of each month.", "", "Answered by test.scripted from the sentences below.",
        f"[1] lease.txt (document {answer['citations'][0]['document']})", f"    “{rent}”"]


def test_ask_refuses_an_empty_question(command_line):
    prepare, invoke = command_line
    prepare([])
    result = invoke("ask", "  ")
    assert result.exit_code != 0 and "the query q is empty" in str(result.exception)


def test_chat_streams_one_answer_or_a_conversation(command_line):
    prepare, invoke = command_line
    provider = prepare(["Hello there, Ada.", "Paris.", "Rome."])
    result = invoke("chat", "Say hello to Ada", "--max-tokens", "20", "--temperature", "0")
    assert result.exit_code == 0, result.output
    assert result.output == "Hello there, Ada.\n"
    request = provider.requests[0]
    assert request.messages == ({"role": "user", "content": "Say hello to Ada"},) and request.max_tokens == 20

    provider = prepare(["Paris.", "Rome."])
    result = invoke("chat", input="Capital of France?\n\nAnd of Italy?\n")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ["Paris.", "Rome."]
    second = provider.requests[1].messages  # the conversation so far goes with each turn
    assert [m["content"] for m in second] == ["Capital of France?", "Paris.", "And of Italy?"]


def test_chat_refuses_an_empty_prompt_and_a_provider_that_is_not_one(command_line):
    prepare, invoke = command_line
    prepare([])
    empty = invoke("chat", " ")
    assert empty.exit_code == 2 and "the prompt is empty" in empty.output
    wrong = invoke("chat", "hi", "--provider", "ai.embed")
    assert wrong.exit_code != 0 and "is not a chat provider" in str(wrong.exception)
