"""The System and Plugins admin pages: admins only and audited; health, readiness, queue, workers,
storage and version; each plugin's status with its error and fix; each component's settings with
the deployment's values, secrets hidden (over HTTP here; in the browser in test_admin_system_browser)."""

from __future__ import annotations

import re

import attrs
import pytest
from api_support import TestPlugin

from paperchain.loader import PluginInfo, register
from paperchain.web.routes.admin_system import HIDDEN, hide_secrets
from paperchain_sdk import ActionSpec, hookimpl
from paperchain_sdk.contracts import Action

from .conftest import PASSWORD

SECRET = "hunter2-very-secret"


@attrs.define
class VaultSettings:
    url: str = "https://vault.example/v1"
    username: str = ""
    password: str = ""
    password_env: str = ""  # names a variable: shown
    api_token: str = ""
    timeout: float = 5.0


class Vault(Action):
    async def run(self, ctx, inputs):
        return {}


class VaultPlugin:
    @hookimpl
    def paperchain_actions(self):
        return [ActionSpec(name="vault.fetch", impl=Vault, settings=VaultSettings, summary="Fetch a sealed value")]


class MisspeltPlugin:
    @hookimpl
    def paperchain_actionz(self):  # not a hook: the loader refuses the plugin, with a fix
        return []


def add_failed_plugin(kernel) -> PluginInfo:
    """A plugin the loader refused, recorded as the loader records one."""
    info = PluginInfo(name="misspelt", module="tests.misspelt", distribution="paperchain-misspelt", version="0.3")
    assert not register(kernel.pm, MisspeltPlugin(), info, strict=False)
    kernel.plugins.append(info)
    return info


@pytest.fixture
async def vault_site(paperchain_api):
    api = await paperchain_api(TestPlugin(), VaultPlugin(), config={"components": {"vault.fetch": {
        "url": f"https://bot:{SECRET}@vault.example/v1", "username": "bot", "password": SECRET,
        "password_env": "VAULT_PASSWORD", "api_token": SECRET, "timeout": 9.5}}})
    for name, role, tenant in (("ada", "admin", ""), ("eddie", "editor", ""), ("vera", "viewer", ""),
                               ("tina", "admin", "acme")):
        await api.state.accounts.create_user(name, PASSWORD, role, tenant=tenant)
    from .conftest import Browser

    browsers = []

    def browser(language: str = "en") -> Browser:
        browsers.append(Browser(api.url, language))
        return browsers[-1]

    api.browser = browser
    yield api
    for made in browsers:
        await made.close()


async def audited(site, path: str) -> list[dict]:
    await site.kernel.journal.flush()
    return [e for e in await site.state.audit.query(limit=1000) if e["action"] == f"GET {path}"]


async def test_viewers_and_editors_get_the_403_page_and_the_refusal_is_audited(vault_site):
    for name in ("vera", "eddie"):
        b = await vault_site.browser().login(name)
        for path in ("/admin/system", "/admin/plugins"):
            status, _, text = await b.get(path)
            assert status == 403 and "This needs the admin role" in text and SECRET not in text, (name, path)
    for path in ("/admin/system", "/admin/plugins"):
        entries = await audited(vault_site, path)
        assert {(e["actor"], e["outcome"]) for e in entries} == {("vera", "denied"), ("eddie", "denied")}
    anonymous = vault_site.browser()
    status, headers, _ = await anonymous.get("/admin/system", follow=False)
    assert status == 303 and headers["Location"].startswith("/login?next=%2Fadmin%2Fsystem")


async def test_the_system_page_shows_health_readiness_queue_workers_storage_and_version(vault_site):
    from paperchain import __version__

    await vault_site.request("POST", "/api/v1/workflows", json={
        "name": "slow", "steps": [{"id": "s", "uses": "test.wait", "with": {"seconds": 30}}]})
    run = (await vault_site.request("POST", "/api/v1/runs", json={"workflow": "slow"})).json["runs"][0]
    await vault_site.request("POST", "/api/v1/documents?name=note.txt", data=b"some words",
                             headers={"Content-Type": "text/plain"})
    ada = await vault_site.browser().login("ada")
    status, _, text = await ada.get("/admin/system")
    assert status == 200
    assert re.search(r'id="health">Up<', text) and re.search(r'id="readiness">Ready<', text)
    assert re.search(r'id="queue-depth">1<', text)  # the slow run, queued or running
    assert re.search(r'id="workers">One process<', text) and "not scaled out" in text
    assert re.search(rf'id="version">{re.escape(__version__)}<', text)
    assert re.search(r'id="documents">1 · 10 B<', text)
    assert re.search(r'id="database-size">[\d.,]+ (KB|MB)<', text) and 'id="blob-size"' in text
    assert [e["outcome"] for e in await audited(vault_site, "/admin/system")] == ["success"]
    # A tenant's admin sees its own tenant's queue and documents, nothing of the whole deployment.
    tina = await vault_site.browser().login("tina")
    status, _, text = await tina.get("/admin/system")
    assert status == 200 and re.search(r'id="queue-depth">0<', text) and re.search(r'id="documents">0 · 0 B<', text)
    assert 'id="database-size"' not in text and str(vault_site.kernel.config.data_dir) not in text
    await vault_site.request("POST", f"/api/v1/runs/{run}/cancel")


async def test_the_plugins_page_shows_a_failed_plugins_error_and_fix_and_settings_with_secrets_hidden(vault_site):
    failed = add_failed_plugin(vault_site.kernel)
    ada = await vault_site.browser().login("ada")
    status, _, text = await ada.get("/admin/plugins")
    assert status == 200 and SECRET not in text
    row = re.search(r'<tr id="plugin-misspelt">(.*?)</tr>', text, re.S).group(1)
    assert "failed" in row and "0.3" in row and "paperchain_actionz" in row
    assert failed.fix and failed.fix.replace("=", "=") in row.replace("&#34;", '"')
    vault = re.search(r'id="component-vault.fetch"(.*?)</section>', text, re.S).group(1)
    assert "Fetch a sealed value" in vault
    cells = dict(re.findall(r'<th scope="row"><code>(\w+)</code></th>.*?<td>(?:.*?)</td>\s*<td>.*?</td>\s*<td>(.*?)</td>',
                            vault, re.S))
    assert HIDDEN in cells["password"] and HIDDEN in cells["api_token"]
    assert f"https://bot:{HIDDEN}@vault.example/v1" in cells["url"]
    assert "VAULT_PASSWORD" in cells["password_env"] and "9.5" in cells["timeout"] and "bot" in cells["username"]
    assert 'id="component-test.wait"' in text and "test.fail_until_fixed" in text
    assert [e["outcome"] for e in await audited(vault_site, "/admin/plugins")] == ["success"]
    # A tenant's admin sees the plugins and the settings' schema, not the deployment's values.
    tina = await vault_site.browser().login("tina")
    status, _, text = await tina.get("/admin/plugins")
    assert status == 200 and "VAULT_PASSWORD" not in text and "vault.example/v1" in text  # the default only
    assert "9.5" not in text and 'id="plugin-misspelt"' in text


def test_secrets_are_hidden_by_name_at_any_depth_and_in_urls():
    assert hide_secrets({"password": "x", "passphrase": "y", "client_secret": "z", "token": "t", "api_key": "k",
                         "private_key": "p", "password_env": "PW", "keywords": ["a"], "monkey": "m", "host": "h"}) == {
        "password": HIDDEN, "passphrase": HIDDEN, "client_secret": HIDDEN, "token": HIDDEN, "api_key": HIDDEN,
        "private_key": HIDDEN, "password_env": "PW", "keywords": ["a"], "monkey": "m", "host": "h"}
    assert hide_secrets({"servers": [{"url": "smtp://me:pw@mail.example:25", "password": "pw"}]}) == {
        "servers": [{"url": f"smtp://me:{HIDDEN}@mail.example:25", "password": HIDDEN}]}
    assert hide_secrets({"password": ""}) == {"password": ""}  # an empty one says it is unset
    assert hide_secrets({"secret": 1234}) == {"secret": HIDDEN}


async def test_the_pages_speak_spanish(vault_site):
    add_failed_plugin(vault_site.kernel)
    ada = await vault_site.browser("es").login("ada")
    _, _, text = await ada.get("/admin/system")
    for words in ("Sistema", "Disponibilidad", "Cola", "Un proceso", "Almacenamiento", "Versión", "1 falló"):
        assert words in text, words
    loaded = len([p for p in vault_site.kernel.plugins if p.status == "active"])
    assert f"{loaded} plugins cargados" in text
    _, _, text = await ada.get("/admin/plugins")
    for words in ("Plugins y componentes", "Ajuste", "Configurado", "Para arreglarlo", "no se cargó",
                  "1 plugin no se pudo cargar"):
        assert words in text, words
