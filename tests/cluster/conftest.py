"""Several API servers on one PostgreSQL database, in one test process: each its own data directory
and kernel, sharing only the database (and the master key, as a deployment's servers must)."""

from __future__ import annotations

import base64
import os

import pytest
from cluster.cluster_support import STEPS, TRIGGERS, ClusterTestPlugin, Server

from paperchain.cluster import Cluster


@pytest.fixture
def shared_database(paperchain_postgres, kernel_template, monkeypatch) -> str:
    """A fresh migrated PostgreSQL database, with short leases and one master key for every server."""
    monkeypatch.setenv("PAPERCHAIN_MASTER_KEY", base64.b64encode(os.urandom(32)).decode())
    monkeypatch.setattr(Cluster, "TTL", 1.5)
    STEPS.clear()
    TRIGGERS.clear()
    return paperchain_postgres.create_database(template=kernel_template)


@pytest.fixture
async def servers(tmp_path, shared_database):
    """``await servers(name, api={...})``: a started API server on the shared database."""
    made: list[Server] = []

    async def start(name: str, *, api: dict | None = None, triggers: bool = True) -> Server:
        server = Server([ClusterTestPlugin()], data_dir=tmp_path / name, api=api, triggers=triggers,
                        config={"paperchain": {"database_url": shared_database}})
        made.append(server)
        return await server.start()

    yield start
    for server in reversed(made):
        await server.close()


