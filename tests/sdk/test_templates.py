"""paperchain_sdk.templates: templates read values and do nothing else, whoever wrote them."""

from __future__ import annotations

import pytest

from paperchain_sdk import ConfigError, InputError
from paperchain_sdk.templates import MAX_OUTPUT, compile_template, render_template

CONTEXT = {"document": {"name": "a.pdf", "tags": ["x", "y"], "metadata": {"total": 12.5}}, "items": list(range(300))}


def test_values_loops_conditions_and_simple_filters():
    text = ("{{ document.name | upper }}: {% for t in document.tags %}{{ t }}{% if not loop.last %}, {% endif %}"
            "{% endfor %} = {{ document.metadata['total'] * 2 }} {{ document.tags | join('+') | truncate(9) }}")
    assert render_template(text, CONTEXT) == "A.PDF: x, y = 25.0 x+y"


@pytest.mark.parametrize("text", [
    "{{ document.name.upper() }}", "{{ document.__class__ }}", "{{ document.name.__class__.__mro__ }}",
    "{{ document.items() }}", "{{ missing }}", "{{ range(10) | list }}", "{{ lipsum() }}",
    "{{ 'x' * 1000000 }}", "{{ ['x'] * 1000000 }}", "{{ 9 ** 999999 }}",
])
def test_what_reaches_further_is_a_clear_input_error(text):
    with pytest.raises(InputError) as caught:
        render_template(text, CONTEXT, where="the prompt")
    assert caught.value.message.startswith("the prompt ")


@pytest.mark.parametrize(("text", "message"), [
    ("{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}", "macro"),
    ("{% include 'other' %}", "include"),
    ("{% extends 'base' %}", "extends"),
    ("{% import 'x' as y %}", "import"),
    ("{% filter upper %}x{% endfilter %}", "filterblock"),
    ("{% for a in items %}{% for b in items %}{% for c in items %}.{% endfor %}{% endfor %}{% endfor %}", "nests loops"),
    ("{{ 'x' | center(1000000000) }}", "No filter named 'center'"),
    ("{{ '%*d' | format(999999999, 1) }}", "No filter named 'format'"),
    ("{{ unclosed", "not a valid template"),
])
def test_refused_templates_are_config_errors_before_they_run(text, message):
    with pytest.raises(ConfigError) as caught:
        compile_template(text, "the prompt")
    assert message in caught.value.message


def test_output_is_bounded_while_it_is_produced():
    text = "{% for a in items %}{% for b in items %}{{ document.name }}{% endfor %}{% endfor %}"  # 450,000 characters
    with pytest.raises(InputError) as caught:
        render_template(text, CONTEXT)
    assert f"more than {MAX_OUTPUT:,} characters" in caught.value.message
    assert len(render_template(text, CONTEXT, max_output=500_000)) == 450_000
