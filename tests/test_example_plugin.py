"""The example third-party plugin installs with pip and shows up, as a user's would."""

import json
import subprocess
import sys

import pytest
from kernel_support import REPO, run_cli


@pytest.mark.slow
def test_pip_install_of_the_example_plugin_makes_it_appear(tmp_path):
    target = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
         str(REPO / "examples" / "paperchain-wordcount")],
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
