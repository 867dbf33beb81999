"""A side-effect step's success is durable before anything that needs it starts."""

from __future__ import annotations

import attrs
import pytest
import sqlalchemy as sa

from paperchain.store.tables import steps
from paperchain_sdk import ActionSpec, hookimpl
from paperchain_sdk.contracts import Action


@attrs.define
class PeekSettings:
    db: str = ""
    step: str = ""


class Send(Action):
    async def run(self, ctx, inputs):
        return {"sent": ctx.idempotency_key}


class Peek(Action):
    """Reads, as another process would after a kill -9, what the database holds for a step: on a
    connection of its own (``db``: a synchronous SQLAlchemy URL of the kernel's database)."""

    def run(self, ctx, inputs):
        engine = sa.create_engine(inputs.db, poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as conn:
                seen = conn.execute(sa.select(steps.c.status).where(
                    steps.c.run_id == ctx.run_id, steps.c.step_id == inputs.step)).scalar()
        finally:
            engine.dispose()
        return {"seen": seen}


class Plugin:
    @hookimpl
    def paperchain_actions(self):
        return [
            ActionSpec(name="test.send", impl=Send, side_effects=True),
            ActionSpec(name="test.quiet", impl=Send),
            ActionSpec(name="test.peek", impl=Peek, settings=PeekSettings),
        ]


@pytest.fixture
def kernel(paperchain_kernel):
    return paperchain_kernel(Plugin())


def test_dependents_of_a_side_effect_step_start_after_its_success_is_committed(kernel):
    url = sa.engine.make_url(kernel.kernel.config.database_url)
    sync = "sqlite+pysqlite" if url.drivername.startswith("sqlite") else "postgresql+psycopg"
    db = url.set(drivername=sync).render_as_string(hide_password=False)
    outcome = kernel.run({"name": "durable-effects", "steps": [
        {"id": "send", "uses": "test.send"},
        *({"id": f"peek{i}", "uses": "test.peek", "needs": ["send"], "with": {"db": db, "step": "send"}}
          for i in range(3)),
    ]}, inputs={})
    run = outcome.runs[0]
    assert outcome.succeeded
    assert [run.steps[f"peek{i}"].outputs["seen"] for i in range(3)] == ["succeeded"] * 3
