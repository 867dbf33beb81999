"""Loading every installed plugin must not import heavy libraries: they load on first use."""

import json
import subprocess
import sys

HEAVY = ["numba", "onnxruntime", "cirq", "skimage", "sklearn", "cupy", "pytesseract",
         "pypdfium2", "docx", "fpdf", "numpy", "jinja2", "aiohttp", "rich"]


def test_loading_all_plugins_and_listing_them_imports_nothing_heavy(tmp_path):
    code = (
        "import sys, json\n"
        "from paperchain.config import load_config\n"
        "from paperchain.kernel import Kernel\n"
        "kernel = Kernel(load_config())\n"
        "assert kernel.plugins, 'no plugins found'\n"
        "assert all(p.status == 'active' for p in kernel.plugins), [(p.name, p.error) for p in kernel.plugins]\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []
