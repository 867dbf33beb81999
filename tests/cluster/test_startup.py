"""Servers starting at once: what one server changes while another is still starting (before it
listens to the bus) is known to the other once it serves."""

from __future__ import annotations

import asyncio

import pytest
from cluster.cluster_support import PASSWORD, eventually

from paperchain.api.accounts import Accounts

pytestmark = pytest.mark.postgres


async def test_a_user_made_while_another_server_starts_is_known_there(servers, monkeypatch):
    a = await servers("a")
    first_read = Accounts.ensure_admin_from_env  # runs after the start-up's read, before listening

    async def made_meanwhile(self, env=None):
        if self.k.data_dir.name == "b":  # b has read the users; a makes one now and announces it
            await a.state.accounts.create_user("rita", PASSWORD, "editor")
            await a.kernel.journal.flush()
            await a.kernel.cluster.bus.drain()
            await asyncio.sleep(0.3)  # the NOTIFY is delivered, to no one on b yet
        return await first_read(self) if env is None else await first_read(self, env)

    monkeypatch.setattr(Accounts, "ensure_admin_from_env", made_meanwhile)
    b = await servers("b")
    login = await a.request("POST", "/api/v1/auth/login", token=None, json={"username": "rita", "password": PASSWORD})
    assert login.status == 200, login
    token = login.json["access_token"]

    async def accepted_on_b() -> bool:
        return (await b.request("GET", "/api/v1/auth/me", token=token)).status == 200

    await eventually(accepted_on_b, timeout=3)
    assert (await b.request("GET", "/api/v1/auth/me", token=token)).json["name"] == "rita"
