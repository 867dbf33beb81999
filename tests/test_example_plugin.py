"""The example third-party plugin installs with pip and shows up, as a user's would."""

import json
import shutil
import subprocess
import sys

import pytest
from kernel_support import REPO, run_cli


@pytest.mark.slow
def test_pip_install_of_the_example_plugin_makes_it_appear(tmp_path):
    target, source = tmp_path / "site", tmp_path / "source"
    # Built from a copy: pip builds in the source folder, and an egg-info left in examples/ would make
    # the plugin's entry point visible to every later test of the run (its conftest puts it on sys.path).
    shutil.copytree(REPO / "examples" / "paperchain-wordcount", source,
                    ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", ".pytest_cache"))
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(source)],
        capture_output=True, text=True, timeout=300,
    )
    assert install.returncode == 0, install.stderr
    listing = json.loads(run_cli("plugins", "list", "--json", cwd=tmp_path, pythonpath=[target]).stdout)
    wordcount = next(p for p in listing["plugins"] if p["name"] == "wordcount")
    assert wordcount["status"] == "active"
    assert wordcount["distribution"] == "paperchain-wordcount"
    assert wordcount["components"] == {"analyzer": ["wordcount.count"]}

    (tmp_path / "note.txt").write_text("paperchain counts words, paperchain counts lines")
    (tmp_path / "w.toml").write_text(
        'name = "count"\n[[steps]]\nid = "text"\nuses = "document.text"\n'
        '[[steps]]\nid = "count"\nuses = "wordcount.count"\nneeds = ["text"]\n'
    )
    result = run_cli("run", "w.toml", "note.txt", cwd=tmp_path, pythonpath=[target])
    assert result.returncode == 0, result.stdout + result.stderr
