"""Bad workflows and bad configuration: each gets one clear message naming what and where."""

from __future__ import annotations

import pytest

from paperchain.config import load_config
from paperchain.kernel import Kernel
from paperchain_sdk import ConfigError


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    """Every installed plugin, as a user would have them."""
    return Kernel(load_config(None, env={}))


def error_of(kernel, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        kernel.load_workflow(text)
    return str(info.value)


STEP = '[[steps]]\nid = "{id}"\nuses = "{uses}"\n'


def test_malformed_toml_names_line_and_column(kernel):
    message = error_of(kernel, 'name = "w"\n[[steps]]\nid = "a"\nuses = "document.text\n')
    assert "is not valid TOML" in message and "line 4, column" in message


def test_unknown_component_lists_the_closest_installed_name(kernel):
    message = error_of(kernel, 'name = "w"\n' + STEP.format(id="pdf", uses="export.pfd"))
    assert "No installed plugin offers the action or exporter or analyzer or model 'export.pfd'" in message
    assert "did you mean 'export.pdf'?" in message and "installed: " in message


def test_dependency_cycle_is_shown(kernel):
    text = 'name = "w"\n' + STEP.format(id="a", uses="document.text") + 'needs = ["b"]\n' + \
        STEP.format(id="b", uses="document.text") + 'needs = ["a"]\n'
    assert "the steps depend on each other in a cycle: a -> b -> a" in error_of(kernel, text)


def test_needs_naming_no_step(kernel):
    text = 'name = "w"\n' + STEP.format(id="a", uses="document.text") + 'needs = ["ocr"]\n'
    assert "step 'a' needs 'ocr', but no step in steps has that id" in error_of(kernel, text)


def test_settings_of_the_wrong_type_name_step_and_key(kernel):
    text = 'name = "w"\n' + STEP.format(id="a", uses="document.text") + 'with = { max_pages = "ten", colour = 1 }\n'
    message = error_of(kernel, text)
    assert "step 'a', table [with]" in message
    assert "max_pages: expected int, got 'ten' (str)" in message and "unknown key(s) colour" in message


def test_batch_exporter_in_a_document_step(kernel):
    message = error_of(kernel, 'name = "w"\n' + STEP.format(id="csv", uses="export.csv"))
    assert "works on a whole batch" in message and "[[batch-steps]]" in message


@pytest.mark.parametrize("extra, expected", [
    ('uses_typo = 1\n', "unknown key(s) uses_typo"),
    ('timeout = "soon"\n', "'soon' is not a duration"),
    ('retry = { attempts = 0 }\n', "attempts must be >= 1"),
    ('with = { title = "${{ steps.a.outputs.x" }\n', None),
    ('if = "${{ (1 + }}"\n', "is not valid"),
])
def test_step_field_errors(kernel, extra, expected):
    text = 'name = "w"\n' + STEP.format(id="a", uses="export.markdown") + extra
    if expected is None:
        kernel.load_workflow(text)  # an unclosed ${{ is plain text, not an expression
    else:
        assert expected in error_of(kernel, text)


def test_duplicate_ids_and_missing_name(kernel):
    assert "is used by two steps" in error_of(kernel, 'name = "w"\n' + STEP.format(id="a", uses="document.text") * 2)
    assert "has no name" in error_of(kernel, STEP.format(id="a", uses="document.text"))


def test_unknown_trigger(kernel):
    assert "the trigger 'cron' in 'on' is not installed" in error_of(kernel, 'name = "w"\n[on.cron]\n' + STEP.format(id="a", uses="document.text"))


def test_config_file_errors_name_file_table_and_key(tmp_path):
    bad = tmp_path / "plugins.toml"
    bad.write_text("[paperchain]\nconcurrency = 'many'\n")
    with pytest.raises(ConfigError, match=r"plugins.toml, table \[paperchain\]: concurrency: expected int, got 'many'"):
        load_config(bad)
    bad.write_text("[paperchain\n")
    with pytest.raises(ConfigError, match=r"is not valid TOML: .*line 1, column"):
        load_config(bad)
    bad.write_text("[plugins.export]\nenabled = 'no'\n")
    with pytest.raises(ConfigError, match=r"\[plugins.export\], key enabled: expected true or false"):
        load_config(bad)
    bad.write_text("[paperchian]\n")
    with pytest.raises(ConfigError, match="unknown table"):
        load_config(bad)


def test_environment_overrides_the_file(tmp_path):
    (tmp_path / "plugins.toml").write_text("[paperchain]\nconcurrency = 8\ndata_dir = 'data'\n")
    config = load_config(tmp_path / "plugins.toml", env={"PAPERCHAIN_CONCURRENCY": "3", "PAPERCHAIN_DISABLE_PLUGINS": "a, b"})
    assert config.kernel.concurrency == 3 and config.disable == ("a", "b")
    assert config.data_dir == tmp_path / "data"
    with pytest.raises(ConfigError, match="PAPERCHAIN_WORKERS='two' is not a whole number"):
        load_config(tmp_path / "plugins.toml", env={"PAPERCHAIN_WORKERS": "two"})


@pytest.mark.parametrize("table, expected", [
    ('cron = "bogus cron"', "'bogus cron' is not a cron expression"),
    ('cronn = "* * * * *"', "unknown key(s) cronn"),
    ('missed = "twice"', "missed"),
])
def test_trigger_settings_are_validated_like_step_settings(kernel, table, expected):
    message = error_of(kernel, f'name = "w"\n[on.schedule]\n{table}\n' + STEP.format(id="a", uses="document.text"))
    assert "table [on.schedule]" in message and expected in message


def test_a_good_trigger_table_is_accepted(kernel):
    workflow = kernel.load_workflow('name = "w"\n[on.schedule]\ncron = "0 7 * * mon-fri"\n' +
                                    STEP.format(id="a", uses="document.text"))
    assert workflow.on == {"schedule": {"cron": "0 7 * * mon-fri"}}


def test_a_trigger_entry_that_is_not_a_table(kernel):
    message = error_of(kernel, 'name = "w"\n[on]\nschedule = "daily"\n' + STEP.format(id="a", uses="document.text"))
    assert "table [on.schedule] must be a table of the trigger's settings" in message
