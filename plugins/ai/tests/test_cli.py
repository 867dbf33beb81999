"""``paperchain ai embed --backfill`` and ``paperchain ai search`` through the real command line:
documents given text by a workflow without ai.embed are embedded afterwards, and a second
backfill has nothing left to do."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # three processes that each start a kernel

WORKFLOW = 'name = "text"\n[[steps]]\nid = "text"\nuses = "document.text"\n'


def _paperchain(config: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "paperchain", "--config", str(config), *args],
                          capture_output=True, text=True, timeout=300, cwd=config.parent)


def test_backfill_then_search_from_the_shell(tmp_path, texts):
    config = tmp_path / "plugins.toml"
    config.write_text('[paperchain]\ndata_dir = "data"\n[plugins]\nload = ["builtins", "ai"]\n')
    (tmp_path / "text.toml").write_text(WORKFLOW)
    files = []
    for name in ("invoice_es", "cat_en"):
        files.append(tmp_path / f"{name}.txt")
        files[-1].write_text(texts[name])
    ran = _paperchain(config, "run", str(tmp_path / "text.toml"), *map(str, files))
    assert ran.returncode == 0, ran.stderr

    refused = _paperchain(config, "ai", "embed")
    assert refused.returncode != 0 and "--backfill" in refused.stderr
    first = _paperchain(config, "ai", "embed", "--backfill", "--batch", "1")
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert (report["model"], report["seen"], report["embedded"]) == ("multilingual-e5-small-fp32", 2, 2)
    again = json.loads(_paperchain(config, "ai", "embed", "--backfill").stdout)
    assert again["embedded"] == 0  # resumable: what is embedded is not done again

    found = _paperchain(config, "ai", "search", "how much is the bill for the chairs?")
    assert found.returncode == 0, found.stderr
    hits = json.loads(found.stdout)
    assert "Factura" in hits[0]["snippet"] and len(hits) == 2
    empty = _paperchain(config, "ai", "search", " ")
    assert empty.returncode != 0 and "empty" in empty.stderr
