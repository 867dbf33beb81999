"""Helpers for the kernel tests: throw-away plugin distributions and the real `paperchain` command."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_DOCUMENTS = Path(os.environ.get("PAPERCHAIN_TESTDATA", REPO.parent / "shared" / "testdata")) / "documents"


def make_dist(root: Path, *, dist: str, module: str, source: str, entry: str | None = None, version: str = "1.0") -> Path:
    """Write an installed-looking distribution (a module and its .dist-info) under ``root``.

    Putting ``root`` on PYTHONPATH makes its entry point visible to importlib.metadata, exactly
    as `pip install` would.
    """
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{module}.py").write_text(textwrap.dedent(source))
    info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[paperchain]\n{entry or module} = {module}\n")
    return root


def run_cli(*args, cwd: Path, pythonpath: list[Path] = (), env: dict | None = None, timeout: float = 120):
    """Run `python -m paperchain ARGS` in a subprocess; return the CompletedProcess."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("PAPERCHAIN_CONFIG", None)
    if pythonpath:
        full_env["PYTHONPATH"] = os.pathsep.join(str(p) for p in pythonpath)
    return subprocess.run(
        [sys.executable, "-m", "paperchain", *map(str, args)], cwd=cwd, env=full_env,
        capture_output=True, text=True, timeout=timeout,
    )


