"""Expressions are user text: whatever they do, they fail their step cleanly and reveal nothing."""

from __future__ import annotations

import pytest

from paperchain.engine import expressions
from paperchain_sdk import ConfigError

SECRET = "s3cr3t-planted-by-the-test"


@pytest.fixture
def planted(monkeypatch):
    monkeypatch.setenv("PAPERCHAIN_TEST_SECRET", SECRET)


def evaluate(text: str, **context):
    return expressions.evaluate(text, {"document": {"size": 10**6, "name": "a.txt"}, "inputs": {}, **context},
                                where="the test")


@pytest.mark.parametrize("text", [
    "format('{0.__globals__[re].enum.sys.modules[os].environ[PAPERCHAIN_TEST_SECRET]}', contains)",
    "format('{0.__globals__}', contains)",
    "format('{0[0]}', 'abc')",
    "format('{0!r}', 'abc')",
    "format('{0:>99999999}', 'abc')",
    "format('{}', 'abc')",
    "format('{name}', 'abc')",
])
def test_format_allows_only_positional_fields(planted, text):
    with pytest.raises(ConfigError) as caught:
        evaluate(text)
    assert SECRET not in str(caught.value)
    assert "format()" in caught.value.message


def test_values_may_be_as_large_as_what_they_were_given():
    text = "x" * 3_000_000  # a long document: using it is fine, multiplying it is not
    assert len(evaluate("format('{0}!', document.text)", document={"text": text})) == 3_000_001
    assert len(evaluate("document.text|replace('x', 'y')", document={"text": text})) == 3_000_000
    assert len(evaluate("'<%s>'|format(document.text)", document={"text": text})) == 3_000_002


def test_format_follows_github_actions():
    assert evaluate("format('{0} and {1}, {{literal}} {0}', 'a', 2)") == "a and 2, {literal} a"
    assert evaluate("format('{0}: {1}', null, [1, 2])") == ': [1, 2]'


@pytest.mark.parametrize("text, said", [
    ("format('{0} {1}', 'x')", "argument {1}"),
    ("format('{0', 'x')", "format()"),
    ("(range(document.size)|length) > 0", "range"),
    ("'a' * 10**12", "too large"),
    ("10 ** (10 ** 10)", "too large"),
    ("fromJSON('[' * 100000 + ']' * 100000)", "fromJSON"),
    ("fromJSON('{')", "fromJSON"),
    ("toJSON(contains)", "toJSON"),
    ("contains(1, 2)", "failed"),
    ("'%099999999d' % 1", "too large"),
    ("'{0:>999999999}'.format(1)", "numbered fields"),
    ("'x'|center(999999999)", "too large"),
    ("[1]|tojson(999999999)", "too large"),
    ("(('a ' * 999999) ~ ('a ' * 999999))|wordwrap(3)", "wordwrap takes at most"),
    ("format('{0}{0}{0}', 'x' * 1999999)", "format() would be too large"),
    ("('%s' * 1000000) % dict(a=1)", "%-formatting would be too large"),
    ("'%(a)s%(a)s'|format(a='x' * 1999999)", "%-formatting would be too large"),
    ("range(100000)|list * 2", "more than 100,000 items"),
    ("dict.fromkeys(range(100000), 'x' * 1999999)|tojson", "builds too much"),
    ("range(100000)|map('string')|map('indent', 'x' * 1999999, true)|list", "builds too much"),
    ("range(100000)|map('center', 10000)|list", "builds too much"),
    ("('x' * 1999999).join(range(100000)|map('string'))", "too large"),
    ("('\t' * 1999999).expandtabs(10000)", "too large"),
    ("('a' * 1999999).translate({97: 'b' * 1000})", "too large"),
    ("('ab' * 4999999)|replace('a', 'bb')", "too large"),
    ("range(100000)|join('x' * 1000)", "too large"),
    ("('a\\n' * 1000)|indent(99999)", "too large"),
    ("[1]|batch(999999999, 0)|list", "too large"),
    ("'x'.ljust(999999999)", "too large"),
])
def test_every_failure_is_a_config_error(text, said):
    with pytest.raises(ConfigError) as caught:
        evaluate(text)
    assert said in caught.value.message
    assert "the test" in caught.value.message


@pytest.mark.parametrize("text", ["contains", "range(3)", "[1, 2]|map('string')", "cycler(1, 2)", "namespace()"])
def test_the_value_of_an_expression_is_plain_data_or_an_error(text):
    try:
        value = evaluate(text)
    except ConfigError:
        return
    assert isinstance(value, (str, int, float, bool, list, dict, type(None)))
