"""Fuzz every expression helper and filter, and try the known Jinja sandbox escapes.

Whatever the text and the arguments, an expression either gives plain data (text, numbers,
booleans, null, lists, objects) or raises ConfigError; and no escape reveals an environment
variable planted here.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paperchain.engine import expressions, sandbox
from paperchain_sdk import ConfigError

SECRET_NAME = "PAPERCHAIN_FUZZ_SECRET"
SECRET = "fuzz-secret-4b1d7e"
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

HELPERS = ["contains", "startsWith", "endsWith", "format", "toJSON", "fromJSON"]
FILTERS = sorted(sandbox.environment().filters)

plain_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
# Numbers at the edges too: widths, counts and exponents are where sizes blow up.
arguments = plain_values | st.sampled_from([-1, 0, 10**9, 10**18, 2**63, float("inf"), "{0}", "{0.__class__}",
                                            "%999999999d", "{", "}", "[" * 3000, "__globals__"])


@pytest.fixture(autouse=True, scope="module")
def planted():
    os.environ[SECRET_NAME] = SECRET
    yield
    os.environ.pop(SECRET_NAME, None)


def is_plain(value) -> bool:
    if value is None or isinstance(value, (bool, int, float)):
        return True
    if isinstance(value, str):
        return type(value) is str
    if isinstance(value, list):
        return all(is_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, (str, int, float, bool)) or k is None for k in value) and all(map(is_plain, value.values()))
    return False


def outcome(text: str, **context):
    """Evaluate; return the value, or None after a ConfigError. Anything else fails the test."""
    try:
        value = expressions.evaluate(text, {"document": {"name": "a.txt", "size": 3, "text": "abc"}, "inputs": {},
                                            "env": {}, **context}, where="the fuzz")
    except ConfigError as exc:
        assert SECRET not in str(exc)
        return None
    assert is_plain(value), f"{text!r} gave {type(value).__name__}"
    assert SECRET not in repr(value)
    return value


@pytest.mark.slow
@FUZZ
@given(helper=st.sampled_from(HELPERS), args=st.lists(arguments, max_size=3))
def test_helpers_with_any_arguments(helper, args):
    names = [f"a{i}" for i in range(len(args))]
    outcome(f"{helper}({', '.join(names)})", **dict(zip(names, args)))


@pytest.mark.slow
@FUZZ
@given(name=st.sampled_from(FILTERS), value=arguments, args=st.lists(arguments, max_size=2))
def test_filters_with_any_arguments(name, value, args):
    names = [f"a{i}" for i in range(len(args))]
    call = f"({', '.join(names)})" if args else ""
    outcome(f"v|{name}{call}", v=value, **dict(zip(names, args)))


@pytest.mark.slow
@FUZZ
@given(template=st.text(alphabet="{}0123456789:!.[]_ab%rs>", max_size=24), args=st.lists(arguments, max_size=3))
def test_format_with_any_template(template, args):
    names = [f"a{i}" for i in range(len(args))]
    value = outcome(f"format(t{''.join(', ' + n for n in names)})", t=template, **dict(zip(names, args)))
    assert value is None or isinstance(value, str)
    outcome(f"t.format({', '.join(names)})", t=template, **dict(zip(names, args)))
    outcome("t % a", t=template, a=args[0] if args else None)


TOKENS = [*HELPERS, *FILTERS, "document", "inputs", "env", "steps", "range", "dict", "cycler", "namespace", "lipsum",
          "(", ")", "[", "]", "{", "}", ",", ".", "|", ":", "'", '"', " ", "+", "-", "*", "**", "/", "//", "%", "~",
          "==", "!=", "<", ">", "&&", "||", "!", "and", "or", "not", "in", "is", "if", "else", "null", "true",
          "0", "1", "9", "99999", "'a'", "'{0}'", "__class__", "__globals__", "__mro__", "__subclasses__", "attr",
          "format_map", "mro", "__init__", "_"]


@pytest.mark.slow
@FUZZ
@given(tokens=st.lists(st.sampled_from(TOKENS), min_size=1, max_size=14))
def test_random_expressions(tokens):
    outcome("".join(tokens))


@pytest.mark.slow
@FUZZ
@given(text=st.text(max_size=40))
def test_random_text_in_a_template(text):
    try:
        value = expressions.render(f"x ${{{{ {text} }}}} y", {"document": None, "inputs": {}}, where="the fuzz")
    except ConfigError:
        return
    assert isinstance(value, str)


# -- known escapes ------------------------------------------------------------------------------------

ESCAPES = [
    # str.format resolving attributes and items outside the sandbox (the original report)
    f"format('{{0.__globals__[re].enum.sys.modules[os].environ[{SECRET_NAME}]}}', contains)",
    f"format('{{0.__globals__[os].environ[{SECRET_NAME}]}}', fromJSON)",
    "format('{0.__globals__}', toJSON)",
    "format('{0[__globals__]}', contains)",
    "format('{0.__self__}', ''.join)",
    f"'{{0.__globals__[os].environ[{SECRET_NAME}]}}'.format(contains)",
    "'{0.__class__.__mro__}'.format(1)",
    "'{x.__class__}'.format_map(dict(x=1))",
    "'{x}'.format_map(dict(x=1))",
    "'{0.__class__}'.format(contains)",
    # dunder walks to object's subclasses
    "''.__class__.__mro__[1].__subclasses__()",
    "().__class__.__bases__[0].__subclasses__()",
    "[].__class__.__base__.__subclasses__()",
    "(1).__class__.__mro__",
    "dict.__class__",
    "dict().__init__.__globals__",
    "contains.__globals__",
    "contains.__code__.co_consts",
    "fromJSON.__globals__['json']",
    "range.__globals__['os']",
    "document.__class__",
    # the template globals an SSTI payload usually starts from
    f"cycler.__init__.__globals__.os.environ['{SECRET_NAME}']",
    f"joiner.__init__.__globals__.os.environ['{SECRET_NAME}']",
    f"namespace.__init__.__globals__.os.environ['{SECRET_NAME}']",
    "lipsum.__globals__['os'].environ",
    "cycler(1, 2)",
    "namespace(a=1)",
    "self.__init__.__globals__",
    "config.__class__.__init__.__globals__['os']",
    "request.application.__globals__",
    # the same walks through filters
    "contains|attr('__globals__')",
    "(contains|attr('__globals__'))['os']",
    "''|attr('__class__')|attr('__mro__')",
    "document|attr('__class__')",
    "[contains]|map(attribute='__globals__')|list",
    "[contains]|map(attribute='__globals__')|first",
    "[contains]|selectattr('__globals__')|list",
    "'%s'|format(contains.__globals__)",
    # values that are not data
    "contains",
    "range",
    "''.join",
    "dict",
]


@pytest.mark.parametrize("text", ESCAPES)
def test_known_sandbox_escapes_are_refused(text):
    with pytest.raises(ConfigError) as caught:
        expressions.evaluate(text, {"document": {"name": "a.txt"}, "inputs": {}, "env": {}}, where="the corpus")
    assert SECRET not in str(caught.value)
    assert "the corpus" in caught.value.message
