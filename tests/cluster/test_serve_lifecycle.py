"""A ``paperchain serve`` process's life on PostgreSQL: the address it records in ``members`` is
the one it bound, and SIGTERM stops it within seconds even while its database cannot be reached."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import time

import aiohttp
import pytest
import sqlalchemy as sa
from cluster.cluster_support import Gate, Serve, eventually, free_port

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
STOPS_WITHIN = 10  # seconds from SIGTERM to exit, whatever the database does


async def _addresses(url: str) -> dict[int, str]:
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(sa.text("SELECT pid, address FROM members "
                                               "WHERE kind = 'serve' AND stopped IS NULL"))).all()
        return {row.pid: row.address for row in rows}
    finally:
        await engine.dispose()


async def test_members_record_the_port_each_server_bound(tmp_path, paperchain_postgres, kernel_template):
    url = paperchain_postgres.create_database(template=kernel_template)
    key = base64.b64encode(os.urandom(32)).decode()
    chosen = free_port()
    serves = [Serve(tmp_path / "a", url, key, port=chosen), Serve(tmp_path / "b", url, key, port=0)]
    try:
        async with aiohttp.ClientSession() as session:
            for serve in serves:
                await serve.ready(session)
        assert serves[1].port not in (0, 8080, chosen)

        async def both_recorded():
            found = await _addresses(url)
            return found if len(found) == 2 else None

        found = await eventually(both_recorded, timeout=10)
        assert found == {serves[0].process.pid: f"127.0.0.1:{chosen}",
                         serves[1].process.pid: f"127.0.0.1:{serves[1].port}"}
    finally:
        for serve in serves:
            serve.stop()


async def test_sigterm_stops_a_server_whose_database_is_unreachable_within_seconds(tmp_path, paperchain_postgres,
                                                                                  kernel_template):
    url = paperchain_postgres.create_database(template=kernel_template)
    gate = await Gate(paperchain_postgres.port).start()
    serve = Serve(tmp_path / "a", gate.url(url), base64.b64encode(os.urandom(32)).decode())
    try:
        async with aiohttp.ClientSession() as session:
            await serve.ready(session)
        gate.shut()  # the database host goes away: the bus tries to reconnect, and gets no answer
        await eventually(lambda: "cluster tick failed" in serve.output(), timeout=15, every=0.2)
        serve.process.send_signal(signal.SIGTERM)
        asked = time.monotonic()
        while serve.process.poll() is None and time.monotonic() - asked < STOPS_WITHIN:
            await asyncio.sleep(0.1)  # the gate relays on this loop: keep it turning
        if serve.process.poll() is None:
            pytest.fail(f"serve was still running {STOPS_WITHIN} s after SIGTERM:\n" + serve.output()[-3000:])
        assert "Stopped." in serve.output()
    finally:
        serve.stop(signal.SIGKILL)
        await gate.close()
