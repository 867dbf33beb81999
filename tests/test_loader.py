"""Plugin discovery through real entry points: failures isolated, conflicts named, selection honoured."""

from __future__ import annotations

import json

import attrs
from aiohttp import web
from kernel_support import make_dist, run_cli

from paperchain.config import Config, KernelSettings
from paperchain.kernel import Kernel
from paperchain_sdk import (
    ActionSpec,
    AnalyzerSpec,
    CommandSpec,
    ExporterSpec,
    LedgerSpec,
    ModelSpec,
    NotifierSpec,
    TriggerSpec,
    hookimpl,
)

GOOD = """
from paperchain_sdk import ActionSpec, hookimpl

@hookimpl
def paperchain_actions():
    return [ActionSpec(name="good.hello", impl="good_plugin:Hello", summary="says hello")]

from paperchain_sdk.contracts import Action
class Hello(Action):
    async def run(self, ctx, inputs):
        return {"greeting": "hello"}
"""

WORKFLOW = 'name = "hello"\n[[steps]]\nid = "hi"\nuses = "good.hello"\n'


def plugins_json(result) -> dict:
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    return {p["name"]: p for p in data["plugins"]} | {"_conflicts": data["conflicts"]}


def test_a_plugin_that_raises_on_import_is_listed_failed_and_the_rest_works(tmp_path):
    site = make_dist(tmp_path / "site", dist="good-plugin", module="good_plugin", source=GOOD, entry="good")
    make_dist(site, dist="broken-plugin", module="broken_plugin", entry="broken",
              source="raise RuntimeError('the author forgot something')\n")
    listing = plugins_json(run_cli("plugins", "list", "--json", cwd=tmp_path, pythonpath=[site]))
    broken = listing["broken"]
    assert broken["status"] == "failed"
    assert broken["error"] == "RuntimeError: the author forgot something"
    assert "PAPERCHAIN_DISABLE_PLUGINS=broken" in broken["fix"]
    assert broken["distribution"] == "broken-plugin" and broken["version"] == "1.0"
    assert listing["good"]["status"] == "active" and listing["good"]["components"] == {"action": ["good.hello"]}

    (tmp_path / "hello.toml").write_text(WORKFLOW)
    result = run_cli("run", "hello.toml", cwd=tmp_path, pythonpath=[site])
    assert result.returncode == 0, result.stderr
    assert "plugin 'broken' (broken-plugin 1.0) failed to load" in result.stderr
    assert "Batch succeeded" in result.stdout


def test_a_missing_library_gets_a_pip_install_fix(tmp_path):
    site = make_dist(tmp_path / "site", dist="needy", module="needy_plugin", entry="needy",
                     source="import surely_not_installed_lib\n")
    listing = plugins_json(run_cli("plugins", "list", "--json", cwd=tmp_path, pythonpath=[site]))
    assert listing["needy"]["status"] == "failed"
    assert listing["needy"]["fix"].startswith("pip install surely_not_installed_lib")


def test_strict_mode_makes_a_failed_plugin_fatal_without_a_traceback(tmp_path):
    site = make_dist(tmp_path / "site", dist="broken-plugin", module="broken_plugin", entry="broken",
                     source="raise ImportError('no')\n")
    result = run_cli("plugins", "list", cwd=tmp_path, pythonpath=[site], env={"PAPERCHAIN_STRICT_PLUGINS": "1"})
    assert result.returncode == 2
    assert "Plugin 'broken' (broken-plugin 1.0) failed to load: ImportError: no" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_misspelt_hook_fails_validation(tmp_path):
    site = make_dist(tmp_path / "site", dist="typo", module="typo_plugin", entry="typo", source="""
        from paperchain_sdk import hookimpl
        @hookimpl
        def paperchain_action():
            return []
    """)
    listing = plugins_json(run_cli("plugins", "list", "--json", cwd=tmp_path, pythonpath=[site]))
    assert listing["typo"]["status"] == "failed"
    assert "unknown hook(s) paperchain_action" in listing["typo"]["error"]


def test_a_registration_hook_returning_the_wrong_records_fails_that_plugin(tmp_path):
    site = make_dist(tmp_path / "site", dist="wrong", module="wrong_plugin", entry="wrong", source="""
        from paperchain_sdk import hookimpl
        @hookimpl
        def paperchain_actions():
            return [{"name": "wrong.dict"}]
    """)
    listing = plugins_json(run_cli("plugins", "list", "--json", cwd=tmp_path, pythonpath=[site]))
    assert listing["wrong"]["status"] == "failed"
    assert "must return ActionSpec records" in listing["wrong"]["error"]


def test_two_plugins_offering_one_name_is_an_error_naming_both(tmp_path):
    site = make_dist(tmp_path / "site", dist="good-plugin", module="good_plugin", source=GOOD, entry="good")
    make_dist(site, dist="rival-plugin", module="rival_plugin", entry="rival", version="2.3",
              source=GOOD.replace("good_plugin:Hello", "rival_plugin:Hello"))
    listing = plugins_json(run_cli("plugins", "list", "--json", cwd=tmp_path, pythonpath=[site]))
    assert listing["_conflicts"] == [
        "component 'good.hello' is offered by both good-plugin 1.0 (plugin 'good') and rival-plugin 2.3 (plugin 'rival')"
    ]
    (tmp_path / "hello.toml").write_text(WORKFLOW)
    result = run_cli("run", "hello.toml", cwd=tmp_path, pythonpath=[site])
    assert result.returncode == 2
    assert "good-plugin 1.0" in result.stderr and "rival-plugin 2.3" in result.stderr
    assert "PAPERCHAIN_DISABLE_PLUGINS" in result.stderr
    fixed = run_cli("run", "hello.toml", cwd=tmp_path, pythonpath=[site], env={"PAPERCHAIN_DISABLE_PLUGINS": "rival"})
    assert fixed.returncode == 0, fixed.stderr


def test_selection_by_environment_and_plugins_toml(tmp_path):
    site = make_dist(tmp_path / "site", dist="good-plugin", module="good_plugin", source=GOOD, entry="good")
    only = plugins_json(run_cli("plugins", "list", "--json", cwd=tmp_path, pythonpath=[site],
                                env={"PAPERCHAIN_LOAD_PLUGINS": "good"}))
    assert only["good"]["status"] == "active" and only["builtins"]["status"] == "disabled"
    (tmp_path / "plugins.toml").write_text("[plugins.good]\nenabled = false\n")
    off = plugins_json(run_cli("plugins", "list", "--json", cwd=tmp_path, pythonpath=[site]))
    assert off["good"]["status"] == "disabled" and off["builtins"]["status"] == "active"


def test_plugin_commands_appear_under_paperchain(tmp_path):
    site = make_dist(tmp_path / "site", dist="cmd-plugin", module="cmd_plugin", entry="cmd", source="""
        import click
        from paperchain_sdk import CommandSpec, hookimpl

        @hookimpl
        def paperchain_commands():
            return [CommandSpec(name="greet", impl="cmd_plugin:greet", summary="Say hello from a plugin.")]

        @click.command()
        @click.argument("who")
        def greet(who):
            click.echo(f"hello {who}")
    """)
    assert "greet" in run_cli("--help", cwd=tmp_path, pythonpath=[site]).stdout
    result = run_cli("greet", "reader", cwd=tmp_path, pythonpath=[site])
    assert result.returncode == 0 and result.stdout.strip() == "hello reader"


@attrs.define
class Options:
    level: int = 1


class EveryKind:
    """One component of each kind (implementations are never imported: registration is lazy)."""

    @hookimpl
    def paperchain_triggers(self):
        return [TriggerSpec(name="every.trigger", impl="nowhere.at_all:Trigger")]

    @hookimpl
    def paperchain_actions(self):
        return [ActionSpec(name="every.action", impl="nowhere.at_all:Action", settings=Options)]

    @hookimpl
    def paperchain_exporters(self):
        return [ExporterSpec(name="every.exporter", impl="nowhere.at_all:Exporter", format="x", media_type="text/x")]

    @hookimpl
    def paperchain_analyzers(self):
        return [AnalyzerSpec(name="every.analyzer", impl="nowhere.at_all:Analyzer")]

    @hookimpl
    def paperchain_models(self):
        return [ModelSpec(name="every.model", impl="nowhere.at_all:Model")]

    @hookimpl
    def paperchain_ledgers(self):
        return [LedgerSpec(name="every.ledger", impl="nowhere.at_all:Ledger")]

    @hookimpl
    def paperchain_notifiers(self):
        return [NotifierSpec(name="every.notifier", impl="nowhere.at_all:Notifier")]

    @hookimpl
    def paperchain_commands(self):
        return [CommandSpec(name="every", impl="nowhere.at_all:cli")]

    @hookimpl
    def paperchain_routes(self, kernel):
        routes = web.RouteTableDef()

        @routes.get("/api/v1/every/ping")
        async def ping(request):
            return web.json_response({"ok": True})

        return routes


def test_every_kind_registers_lazily(tmp_path):
    config = Config(source="test", data_dir=tmp_path, kernel=KernelSettings(), components={"every.action": {"level": 3}})
    kernel = Kernel(config, plugins=[EveryKind()], builtins=False)
    kinds = {e.kind: e.spec.name for e in kernel.registry.entries()}
    assert kinds == {k: f"every.{k}" for k in ("trigger", "action", "exporter", "analyzer", "model", "ledger", "notifier")}
    assert [c.name for c in kernel.commands()] == ["every"]
    assert [r.path for r in kernel.routes()] == ["/api/v1/every/ping"]
    assert kernel.registry.settings_for(kernel.registry.get("every.action"), where="t") == Options(level=3)
    kernel.check()


def test_bad_component_defaults_in_config_name_the_table_and_key(tmp_path):
    config = Config(source="plugins.toml", data_dir=tmp_path, kernel=KernelSettings(),
                    components={"every.action": {"level": "high"}})
    kernel = Kernel(config, plugins=[EveryKind()], builtins=False)
    try:
        kernel.check()
    except Exception as exc:
        assert str(exc).startswith(
            "Invalid settings in plugins.toml, table [components.\"every.action\"]: level: expected int, got 'high' (str)."
        )
    else:
        raise AssertionError("bad settings were accepted")
