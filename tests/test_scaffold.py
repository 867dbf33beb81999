"""paperchain.scaffold: every kind generates a package whose own tests pass as generated."""

from __future__ import annotations

import ast
import importlib
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from paperchain.scaffold import create_plugin
from paperchain_sdk import KINDS, ConfigError
from paperchain_sdk.specs import NAME_PATTERN
from paperchain_sdk.testing import check_plugin

PLACEHOLDER = re.compile(r"(?<!\$)\{\{\s*\w+\s*\}\}")  # ${{ … }} is a workflow expression
CORE = Path(__file__).resolve().parents[1] / "core"  # the kernel, for the generated kernel tests


def package_files(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): p.read_text(encoding="utf-8") for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("kind", KINDS)
def test_generates_a_complete_package(kind, tmp_path):
    root = create_plugin("invoice-tools", kind, tmp_path)
    assert root == tmp_path / "paperchain-invoice-tools"
    files = package_files(root)
    assert set(files) == {
        ".gitignore", "README.md", "conftest.py", "pyproject.toml", "tests/test_plugin.py",
        "paperchain_invoice_tools/__init__.py", "paperchain_invoice_tools/settings.py",
        "paperchain_invoice_tools/component.py", "paperchain_invoice_tools/ui.py",
        "paperchain_invoice_tools/templates/page.html",
        "paperchain_invoice_tools/catalogs/es/LC_MESSAGES/messages.po", "tests/test_page.py",
    }
    for path, text in files.items():
        assert not PLACEHOLDER.search(text), f"unrendered placeholder in {path}"
        if path.endswith(".py"):
            ast.parse(text, filename=path)
    project = tomllib.loads(files["pyproject.toml"])["project"]
    assert (project["name"], project["version"]) == ("paperchain-invoice-tools", "0.1.0")
    assert project["dependencies"] == ["paperchain-sdk"]
    assert project["optional-dependencies"]["test"] == ["pytest", "pytest-asyncio", "paperchain"]
    assert project["entry-points"]["paperchain"] == {"invoice-tools": "paperchain_invoice_tools"}
    assert "pip install -e ." in files["README.md"] and "paperchain plugins list" in files["README.md"]


def test_hook_module_is_valid_and_light(tmp_path, monkeypatch):
    """Importing the entry-point module offers a valid spec without importing the component."""
    for kind in KINDS:
        root = create_plugin(f"light-{kind}", kind, tmp_path)
        package = f"paperchain_light_{kind}"
        monkeypatch.syspath_prepend(str(root))
        try:
            specs = check_plugin(importlib.import_module(package))
            [name] = specs
            assert name.startswith(f"light-{kind}.") and NAME_PATTERN.match(name)
            assert specs[name].kind == kind
            # check_plugin loads the implementation; a fresh import of the hook module must not.
            for module in [m for m in sys.modules if m.startswith(package)]:
                del sys.modules[module]
            importlib.import_module(package)
            assert f"{package}.component" not in sys.modules
        finally:
            for module in [m for m in sys.modules if m.startswith(package)]:
                del sys.modules[module]


def test_writes_the_author(tmp_path):
    root = create_plugin("wordcount", "analyzer", tmp_path, author='Zoë "Z" O\'Neil')
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["authors"] == [{"name": 'Zoë "Z" O\'Neil'}]
    root = create_plugin("nobody", "analyzer", tmp_path)
    assert "authors" not in tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def test_uses_an_existing_empty_folder(tmp_path):
    (tmp_path / "paperchain-wordcount").mkdir()
    assert (create_plugin("wordcount", "analyzer", tmp_path) / "pyproject.toml").is_file()


@pytest.mark.parametrize(
    "name", ["", "WordCount", "1count", "word_count", "word--count", "-count", "count-", "wörd", "word count"]
)
def test_refuses_a_bad_name(name, tmp_path):
    with pytest.raises(ConfigError, match="not valid") as caught:
        create_plugin(name, "analyzer", tmp_path)
    assert "invoice-tools" in caught.value.hint
    assert not any(tmp_path.iterdir())


def test_refuses_an_unknown_kind_and_lists_the_valid_ones(tmp_path):
    with pytest.raises(ConfigError, match="Unknown component kind 'analyser'") as caught:
        create_plugin("wordcount", "analyser", tmp_path)
    assert all(kind in caught.value.hint for kind in KINDS)
    assert not any(tmp_path.iterdir())


def test_refuses_an_existing_folder(tmp_path):
    target = tmp_path / "paperchain-wordcount"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="already exists and is not empty") as caught:
        create_plugin("wordcount", "analyzer", tmp_path)
    assert caught.value.hint
    assert [p.name for p in target.iterdir()] == ["notes.txt"]
    (tmp_path / "paperchain-other").write_text("a file, not a folder")
    with pytest.raises(ConfigError, match="already exists"):
        create_plugin("other", "analyzer", tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_generated_tests_pass(kind, tmp_path):
    root = create_plugin(f"demo-{kind}", kind, tmp_path / "plugins")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), str(CORE)])}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(root / "tests"), "-q", "-p", "no:cacheprovider"],
        cwd=root, env=env, capture_output=True, text=True, timeout=120,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0 and "passed" in output, output
