"""Templates stay in the sandbox; quiet hours and send_at decide when a message may go."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from notify_support import Receiver, config

from paperchain_notify.channels import send_time
from paperchain_notify.settings import MessageSettings
from paperchain_notify.templates import render
from paperchain_sdk import InputError, Message


def test_templates_render_values():
    assert render("Hi {{ user.name | upper }} ({{ items | length }})", {"user": {"name": "ana"}, "items": [1, 2]}) == "Hi ANA (2)"
    assert render("<b>{{ x }}</b>", {"x": "<script>"}, html=True) == "<b>&lt;script&gt;</b>"


@pytest.mark.parametrize("attack", [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os }}",
    "{{ data.__class__.__base__ }}",
    "{{ (1).__class__.__subclasses__() }}",
    "{% for c in [].__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    "{{ data.update({'x': 1}) }}",
])
def test_a_template_cannot_reach_python_internals(attack):
    data = {"a": 1}
    try:
        out = render(attack, {"data": data})
    except InputError as exc:
        assert "may not use" in exc.message
    else:  # the sandbox hides unsafe attributes as undefined: nothing of Python shows
        assert "class" not in out and "module" not in out and "function" not in out, out
    assert data == {"a": 1}


def test_bad_template_syntax_is_a_clear_error():
    with pytest.raises(InputError, match="not valid Jinja2"):
        render("{{ unclosed", {})


def _options(**values):
    return MessageSettings(**values)


def test_quiet_hours_push_a_message_to_their_end_unless_urgent():
    now = dt.datetime(2026, 6, 1, 21, 30, tzinfo=dt.UTC)  # 23:30 in Madrid (UTC+2)
    opts = _options(quiet_hours="22:00-07:00", timezone="Europe/Madrid")
    from zoneinfo import ZoneInfo

    expected = dt.datetime(2026, 6, 2, 7, 0, tzinfo=ZoneInfo("Europe/Madrid")).timestamp()
    assert send_time(opts, 0, now) == expected
    assert send_time(opts, 2, now) == now.timestamp()  # urgent
    noon = dt.datetime(2026, 6, 1, 10, 0, tzinfo=dt.UTC)
    assert send_time(opts, 0, noon) == noon.timestamp()
    early = dt.datetime(2026, 6, 1, 3, 0, tzinfo=dt.UTC)  # 05:00 Madrid, same morning
    assert send_time(opts, 0, early) == dt.datetime(2026, 6, 1, 7, 0, tzinfo=ZoneInfo("Europe/Madrid")).timestamp()


def test_bad_timing_settings():
    with pytest.raises(InputError, match="quiet_hours"):
        send_time(_options(quiet_hours="late"), 0)
    with pytest.raises(InputError, match="send_at"):
        send_time(_options(send_at="tomorrow"), 0)


def test_send_at_holds_a_message_until_its_time(kernel):
    harness = kernel(config())

    async def scenario():
        async with Receiver() as receiver:
            hook = harness.kernel.component("notify.webhook")
            at = dt.datetime.fromtimestamp(time.time() + 0.8, dt.UTC).isoformat()
            delivery = await hook.send(Message(to=(receiver.url,), body="later", data={"send_at": at}))
            row = await hook.outbox.get(delivery.message_id)
            assert row["status"] == "queued" and receiver.calls == 0
            (row,) = await hook.outbox.wait([delivery.message_id], 10)
            assert row["status"] == "sent" and row["sent"] >= row["send_at"]

    harness.call(scenario())
