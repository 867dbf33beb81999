"""A ``paperchain serve`` process's life on PostgreSQL: the address it records in ``members`` is
the one it bound, and SIGTERM stops it within seconds even while its database is gone."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import time

import aiohttp
import pytest
import sqlalchemy as sa
from cluster.cluster_support import Serve, eventually, free_port

from paperchain_sdk.testing.postgres import PostgresCluster, find_bin_dir

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


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


@pytest.fixture
def throwaway_postgres():
    """A PostgreSQL cluster of this test's own, which the test may stop under a running server."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        pytest.skip("PostgreSQL is not installed")
    cluster = PostgresCluster(bin_dir).start()
    try:
        yield cluster
    finally:
        cluster.stop()


async def test_sigterm_stops_a_server_whose_database_is_gone_within_seconds(tmp_path, throwaway_postgres):
    url = throwaway_postgres.create_database()
    serve = Serve(tmp_path / "a", url, base64.b64encode(os.urandom(32)).decode())
    try:
        async with aiohttp.ClientSession() as session:
            await serve.ready(session)
        throwaway_postgres.stop()  # the database goes away: the bus starts reconnecting

        async def reconnecting() -> bool:
            return "the bus cannot reach PostgreSQL" in serve.output()

        await eventually(reconnecting, timeout=20, every=0.2)
        serve.process.send_signal(signal.SIGTERM)
        asked = time.monotonic()
        try:
            serve.process.wait(15)
        except subprocess.TimeoutExpired:
            pytest.fail("serve was still running 15 s after SIGTERM:\n" + serve.output()[-3000:])
        assert time.monotonic() - asked < 15
        assert "Stopped." in serve.output()
    finally:
        serve.stop(signal.SIGKILL)
