"""What the kernel's SQL needs that SQLite and PostgreSQL spell differently, as Core constructs that
compile per dialect. Everything else is plain SQLAlchemy Core over store/tables.py.

Times are ISO-8601 UTC text on both databases and JSON is text (see tables.py), so:

- ``json_field(column, key)``: a top-level field of a JSON object, as text (NULL when absent).
- ``json_array_has(column, value)``: the JSON array in ``column`` holds the string ``value``.
- ``seconds_between(start, end)``: ``end - start`` in seconds, for two ISO-8601 time columns.
- ``ordered_join(left, right, onclause)``: an inner join SQLite must read left side first.

Upserts need no helper: ``handle.insert(table)`` is the dialect's insert, and both dialects' have
``on_conflict_do_nothing()`` and ``on_conflict_do_update(index_elements=..., set_=...)``.

Habits that keep a statement portable: name every non-aggregated column of a grouped select in
its GROUP BY; ``ilike`` for case-insensitive matching (SQLite's LIKE ignores ASCII case,
PostgreSQL's does not); bind values of the column's type (PostgreSQL refuses to compare TEXT with
an integer); ``sum``/``avg`` come back as ``Decimal`` from PostgreSQL, so wrap them in
``sa.cast(..., sa.Float)`` where the result is sent on as JSON.
"""

from __future__ import annotations

import itertools
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement, FunctionElement, Join


class json_field(FunctionElement):  # noqa: N801 - used like a SQL function
    type = sa.Text()
    inherit_cache = True
    name = "json_field"

    def __init__(self, column: Any, key: str):
        super().__init__(column, sa.literal(key, sa.Text()))


@compiles(json_field, "sqlite")
def _json_field_sqlite(element, compiler, **kw):
    column, key = list(element.clauses)
    # '$."key"' quotes the key, so a key holding dots or brackets is one field, never a path.
    return f"json_extract({compiler.process(column, **kw)}, '$.\"' || {compiler.process(key, **kw)} || '\"')"


@compiles(json_field, "postgresql")
def _json_field_postgresql(element, compiler, **kw):
    column, key = list(element.clauses)
    return f"(CAST({compiler.process(column, **kw)} AS json) ->> {compiler.process(key, **kw)})"


class json_array_has(FunctionElement):  # noqa: N801 - used like a SQL function
    type = sa.Boolean()
    inherit_cache = True
    name = "json_array_has"

    def __init__(self, column: Any, value: Any):
        super().__init__(column, value if isinstance(value, ColumnElement) else sa.literal(value, sa.Text()))


@compiles(json_array_has, "sqlite")
def _json_array_has_sqlite(element, compiler, **kw):
    column, value = list(element.clauses)
    return (f"EXISTS (SELECT 1 FROM json_each({compiler.process(column, **kw)}) "
            f"WHERE json_each.value = {compiler.process(value, **kw)})")


@compiles(json_array_has, "postgresql")
def _json_array_has_postgresql(element, compiler, **kw):
    column, value = list(element.clauses)
    return (f"(CAST({compiler.process(column, **kw)} AS jsonb) @> "
            f"jsonb_build_array(CAST({compiler.process(value, **kw)} AS text)))")


class seconds_between(FunctionElement):  # noqa: N801 - used like a SQL function
    type = sa.Float()
    inherit_cache = True
    name = "seconds_between"


@compiles(seconds_between, "sqlite")
def _seconds_between_sqlite(element, compiler, **kw):
    start, end = list(element.clauses)
    return (f"((julianday({compiler.process(end, **kw)}) - julianday({compiler.process(start, **kw)})) "
            "* 86400.0)")


@compiles(seconds_between, "postgresql")
def _seconds_between_postgresql(element, compiler, **kw):
    start, end = list(element.clauses)
    return (f"EXTRACT(EPOCH FROM (CAST({compiler.process(end, **kw)} AS timestamptz) - "
            f"CAST({compiler.process(start, **kw)} AS timestamptz)))::float8")


class ordered_join(Join):  # noqa: N801 - used like sa.join
    """An inner join that SQLite reads in the order written (``CROSS JOIN ... ON``: the left side
    drives, its index order kept, so ``ORDER BY .. LIMIT`` stops early); a plain ``JOIN`` on
    PostgreSQL, whose planner orders joins from its statistics (and has no ``CROSS JOIN ... ON``)."""

    inherit_cache = True

    def __init__(self, left: Any, right: Any, onclause: Any):
        super().__init__(left, right, onclause)


@compiles(ordered_join, "sqlite")
def _ordered_join_sqlite(element, compiler, asfrom=False, from_linter=None, **kw):
    if from_linter:  # as SQLCompiler.visit_join: the two sides are joined, not a cartesian product
        from_linter.edges.update(itertools.product(element.left._from_objects, element.right._from_objects))
    return (element.left._compiler_dispatch(compiler, asfrom=True, from_linter=from_linter, **kw) + " CROSS JOIN "
            + element.right._compiler_dispatch(compiler, asfrom=True, from_linter=from_linter, **kw) + " ON "
            + element.onclause._compiler_dispatch(compiler, from_linter=from_linter, **kw))
