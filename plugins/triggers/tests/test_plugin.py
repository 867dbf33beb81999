"""The plugin as the kernel sees it: specs and laziness."""

from __future__ import annotations

import json
import subprocess
import sys

import paperchain_triggers
from paperchain_sdk.testing import check_plugin


def test_offers_every_trigger():
    specs = check_plugin(paperchain_triggers)
    assert sorted(specs) == ["data-change", "event", "folder", "schedule", "threshold", "webhook"]
    assert all(spec.kind == "trigger" and isinstance(spec.impl, str) for spec in specs.values())


def test_light_module_imports_no_heavy_library():
    code = (
        "import json, sys, paperchain_triggers\n"
        "paperchain_triggers.paperchain_triggers()\n"
        "print(json.dumps([m for m in ['aiohttp', 'watchfiles', 'croniter'] if m in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == []
