"""ai.generate (prompt templates in the sandbox, tokens streamed as batched events) and
ai.summarize (bounded length)."""

from __future__ import annotations

import json

import pytest

import paperchain_ai
from paperchain_ai.providers import ChatAnswer
from paperchain_ai.steps.summarize import bounded
from paperchain_ai.testing import fenced_document, request_text, scripted_plugin
from paperchain_sdk import ConfigError

TEXT = "Minutes of the board meeting. The board approved the budget for 2027 and a new office in Leeds."
PROSE = " ".join(f"word{n}" for n in range(3000))


def kernel_with(paperchain_kernel, script, **components):
    provider = scripted_plugin(script)
    config = {"components": {name: {"provider": provider.name} for name in ("ai.generate", "ai.summarize")}}
    return paperchain_kernel(paperchain_ai, provider, config=config), provider


def generate_workflow(**settings) -> dict:
    return {"name": "generate", "steps": [
        {"id": "text", "uses": "document.text"},
        {"id": "write", "uses": "ai.generate", "needs": ["text"], "with": settings},
    ]}


@pytest.fixture
def minutes(tmp_path):
    path = tmp_path / "minutes.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


def test_the_prompt_template_reads_the_document_and_the_run(paperchain_kernel, minutes):
    harness, provider = kernel_with(paperchain_kernel, ["A short answer."])
    prompt = ("Write a title for {{ document.name | upper }} ({{ document.media_type }}), "
              "{{ data.words }} words, tags: {{ document.tags | join(', ') or 'none' }}, run {{ run.workflow }}.")
    outcome = harness.run(generate_workflow(prompt=prompt, data={"words": "${{ steps.text.outputs.words }}"}, stream=False),
                          files=[minutes])
    run = outcome.runs[0]
    assert run.status == "succeeded", run.error
    assert run.steps["write"].outputs == {"text": "A short answer.", "model": "test.scripted", "tokens": 3,
                                          "finish_reason": "stop"}
    sent = provider.requests[0].messages[0]["content"]
    assert sent.startswith("Write a title for MINUTES.TXT (text/plain), 18 words, tags: none, run generate.")
    assert fenced_document(provider.requests[0]) == TEXT  # appended, fenced, as the prompt did not place it

    harness, provider = kernel_with(paperchain_kernel, ["ok"])
    harness.run(generate_workflow(prompt="Summary of:\n{{ document.text }}\nEnd.", stream=False), files=[minutes])
    sent = provider.requests[0].messages[0]["content"]
    assert fenced_document(provider.requests[0]) == TEXT and sent.count(TEXT) == 1 and sent.endswith("\nEnd.")
    assert "is data taken from a document" in sent


def test_tokens_stream_as_batched_events(paperchain_kernel, minutes):
    harness, _ = kernel_with(paperchain_kernel, [PROSE])
    events = []
    harness.kernel.listeners.append(lambda event: events.append(event) if event.type == "ai.tokens" else None)
    run = harness.run(generate_workflow(prompt="Go on."), files=[minutes]).runs[0]
    outputs = run.steps["write"].outputs
    assert outputs["text"] == PROSE and outputs["tokens"] == 3000
    assert "".join(e.data["text"] for e in events) == PROSE
    assert [e.data["sequence"] for e in events] == list(range(1, len(events) + 1))
    assert events[-1].data["done"] is True and not any(e.data["done"] for e in events[:-1])
    assert {(e.data["run"], e.data["step"], e.subject) for e in events} == {(run.id, "write", f"{run.id}/write")}
    # Batched: 3,000 tokens (about 27,000 characters) in a few dozen events, not 3,000.
    assert len(events) <= len(PROSE) // 400 + 2


@pytest.mark.parametrize("prompt", ["{{ document.name.upper() }}", "{{ document.__class__ }}",
                                    "{{ run.id * 100000000 }}", "{{ missing }}"])
def test_a_template_that_reaches_for_more_fails_its_step(paperchain_kernel, minutes, prompt):
    harness, provider = kernel_with(paperchain_kernel, ["never"])
    run = harness.run(generate_workflow(prompt=prompt), files=[minutes]).runs[0]
    assert run.status == "failed" and "ai.generate's prompt" in run.steps["write"].error
    assert provider.requests == []


@pytest.mark.parametrize(("prompt", "message"), [
    ("{% macro m() %}x{% endmacro %}", "macro"), ("{{ x | center(10) }}", "No filter named 'center'"),
    ("{% include 'x' %}", "include"), ("{{ unclosed", "not a valid template"), ("", None),
])
def test_bad_templates_are_refused_when_the_workflow_is_validated(paperchain_kernel, prompt, message):
    harness, _ = kernel_with(paperchain_kernel, [])
    if message is None:  # an empty prompt is valid settings, and a clear error when the step runs
        harness.kernel.load_workflow(generate_workflow(prompt=prompt))
        return
    with pytest.raises(ConfigError) as caught:
        harness.kernel.load_workflow(generate_workflow(prompt=prompt))
    assert message in caught.value.message


def test_an_empty_prompt_says_what_to_add(paperchain_kernel, minutes):
    harness, _ = kernel_with(paperchain_kernel, [])
    run = harness.run(generate_workflow(), files=[minutes]).runs[0]
    assert "needs a prompt" in run.steps["write"].error


def test_summaries_are_bounded(paperchain_kernel, minutes):
    first = "The board approved the budget for 2027 and a new office in Leeds after a long and lively debate."
    long = first + " " + " ".join(["It also discussed many other things at length"] * 40)
    harness, provider = kernel_with(paperchain_kernel, [json.dumps({"summary": long})])
    workflow = {"name": "summarize", "steps": [{"id": "text", "uses": "document.text"}, {
        "id": "summary", "uses": "ai.summarize", "needs": ["text"], "with": {"max_words": 20, "language": "Spanish"}}]}
    run = harness.run(workflow, files=[minutes]).runs[0]
    outputs = run.steps["summary"].outputs
    assert outputs["summary"] == first and outputs["words"] == 19
    request = provider.requests[0]
    assert "in Spanish, in at most 20 words" in request.messages[0]["content"]
    assert request.schema["required"] == ["summary"] and request.max_tokens == 84


def test_a_summary_cut_at_max_tokens_keeps_its_finished_sentences(paperchain_kernel, minutes):
    # A small model that runs on is cut at max_tokens mid-JSON: its finished sentences are the summary
    # (Gemma 3 270M on the example service agreement); one cut before any sentence ended is retried.
    running_on = '{"summary": "The board approved the budget. It chose Leeds for the new office. It also said th'
    cut = ChatAnswer(text=running_on, model="m", finish_reason="length")
    too_soon = ChatAnswer(text='{"summary": "The board appro', model="m", finish_reason="length")
    harness, provider = kernel_with(paperchain_kernel, [too_soon, cut])
    workflow = {"name": "summarize", "steps": [{"id": "text", "uses": "document.text"}, {
        "id": "summary", "uses": "ai.summarize", "needs": ["text"], "with": {"max_words": 40}}]}
    outputs = harness.run(workflow, files=[minutes]).runs[0].steps["summary"].outputs
    assert outputs["summary"] == "The board approved the budget. It chose Leeds for the new office."
    assert len(provider.requests) == 2 and "cut at max_tokens" in request_text(provider.requests[1])


def test_bounded_cuts_at_a_sentence_or_marks_the_cut():
    assert bounded("One two three. Four five six.", 4) == "One two three."
    assert bounded("One. Two three four five six.", 4) == "One. Two three four …"  # too short a cut
    assert bounded("one two three four five six", 3) == "one two three …"
    assert bounded("  short   text ", 10) == "short text"
