"""Start-up time of the ``paperchain`` command against importing pluggy, in the project's venv.

Each command runs as a fresh subprocess, N times (default 10) after one warm-up, interleaved so
that machine noise hits every command alike; the median wall time is reported. Two bytecode modes:

* ``as configured``: this shell's environment as is. Where PYTHONDONTWRITEBYTECODE=1 is set (it is
  on these machines), the editable paperchain sources have no cached bytecode and are compiled
  on every start; installed libraries keep the .pyc files pip wrote.
* ``bytecode cached``: PYTHONDONTWRITEBYTECODE unset and PYTHONPYCACHEPREFIX pointing at a temp
  dir (warmed by the first run), as after a normal wheel install. Nothing is written to the repo.

    .venv/bin/python bench/startup.py              # about 15 s
    .venv/bin/python bench/startup.py --imports    # also the slowest imports of `plugins list`

Results: bench/results/startup.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VENV = ROOT / ".venv" / "bin"

COMMANDS = {
    "paperchain plugins list": [str(VENV / "paperchain"), "plugins", "list"],
    "paperchain --help": [str(VENV / "paperchain"), "--help"],
    'python -c "import pluggy"': [str(VENV / "python"), "-c", "import pluggy"],
    'python -c "pass"': [str(VENV / "python"), "-c", "pass"],
}
REFERENCE = 'python -c "import pluggy"'


def clean_env() -> dict:
    return {k: v for k, v in os.environ.items() if not k.startswith("PAPERCHAIN_")}


def time_once(cmd: list[str], env: dict, cwd: Path) -> float:
    t = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr.decode()[-2000:]}")
    return elapsed


def measure(env: dict, cwd: Path, n: int) -> dict[str, dict]:
    for cmd in COMMANDS.values():  # warm-up: page cache, and the bytecode cache where enabled
        time_once(cmd, env, cwd)
    samples: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(n):
        for name, cmd in COMMANDS.items():
            samples[name].append(time_once(cmd, env, cwd))
    return {name: {"median_s": statistics.median(s), "min_s": min(s), "max_s": max(s), "samples_s": s}
            for name, s in samples.items()}


def slowest_imports(env: dict, cwd: Path, top: int = 15) -> list[tuple[float, str]]:
    code = "from paperchain.cli.main import main; main(['plugins', 'list'])"
    proc = subprocess.run([str(VENV / "python"), "-X", "importtime", "-c", code], env=env, cwd=cwd,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    rows = []
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line and "cumulative" not in line:
            _, cumulative, name = line[len("import time:"):].split("|")
            rows.append((int(cumulative) / 1000, name.rstrip()))
    return sorted(rows, reverse=True)[:top]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=10, help="runs of each command per mode")
    parser.add_argument("--imports", action="store_true", help="print the slowest imports of `plugins list`")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-startup-"))  # cwd without a plugins.toml
    try:
        as_configured = clean_env()
        cached = clean_env()
        cached.pop("PYTHONDONTWRITEBYTECODE", None)
        cached["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
        modes = {
            f"as configured (PYTHONDONTWRITEBYTECODE={os.environ.get('PYTHONDONTWRITEBYTECODE', 'unset')})": as_configured,
            "bytecode cached": cached,
        }
        results = {name: measure(env, work, args.n) for name, env in modes.items()}
        imports = slowest_imports(cached, work) if args.imports else None
    finally:
        shutil.rmtree(work, ignore_errors=True)

    summary = {}
    for mode, rows in results.items():
        reference = rows[REFERENCE]["median_s"]
        print(f"\n{mode}: median of {args.n} runs each")
        print(f"{'command':<28} {'median ms':>10} {'min ms':>8} {'max ms':>8} {'x import pluggy':>16}")
        print("-" * 74)
        for name, row in rows.items():
            print(f"{name:<28} {row['median_s'] * 1000:>10.0f} {row['min_s'] * 1000:>8.0f} {row['max_s'] * 1000:>8.0f} "
                  f"{row['median_s'] / reference:>16.1f}")
        summary[mode] = {name: {"median_ms": row["median_s"] * 1000, "ratio_to_import_pluggy": row["median_s"] / reference}
                         for name, row in rows.items()}
    if imports:
        print("\nSlowest imports of `paperchain plugins list` (bytecode cached, cumulative ms, nested ones included):")
        for ms, name in imports:
            print(f"  {ms:7.1f}  {name}")

    out = HERE / "results" / "startup.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({
        "benchmark": "startup", "date": time.strftime("%Y-%m-%d %H:%M:%S %z"), "host": platform.node(),
        "cpus": os.cpu_count(), "python": platform.python_version(), "n": args.n, "summary": summary,
        "results": results, "slowest_imports_ms": imports,
    }, indent=2))
    print(f"\nWrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
