"""A side-effect step's success is durable before anything that needs it starts."""

from __future__ import annotations

import sqlite3

import attrs
import pytest

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
    """Reads, as another process would after a kill -9, what the database holds for a step."""

    def run(self, ctx, inputs):
        with sqlite3.connect(inputs.db) as conn:
            row = conn.execute("SELECT status FROM steps WHERE run_id = ? AND step_id = ?",
                               (ctx.run_id, inputs.step)).fetchone()
        return {"seen": row[0] if row else None}


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
    db = str(kernel.kernel.data_dir / "paperchain.db")
    outcome = kernel.run({"name": "durable-effects", "steps": [
        {"id": "send", "uses": "test.send"},
        *({"id": f"peek{i}", "uses": "test.peek", "needs": ["send"], "with": {"db": db, "step": "send"}}
          for i in range(3)),
    ]}, inputs={})
    run = outcome.runs[0]
    assert outcome.succeeded
    assert [run.steps[f"peek{i}"].outputs["seen"] for i in range(3)] == ["succeeded"] * 3
