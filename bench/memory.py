"""Peak memory of ``paperchain run`` over a batch of large documents.

Generates N text documents of 1 MiB each (default 1,000; word-like random text, every one
different so the content-addressed store keeps them all) in a temp dir, then runs

    paperchain run WORKFLOW DIR        (the project's venv, a subprocess, its own data dir)

with the workflow ``document.text`` -> ``export.markdown`` and ``export.json``. While it runs,
/proc is sampled every 50 ms: the RSS of the main process and of every descendant (the fork
server, the process-pool workers, the resource tracker), and their PSS, which counts pages shared
between them once. The kernel's own peak (VmHWM) of the main process is reported as well. A run
whose RSS passes --cap-mb is stopped (the machine is shared). Everything is deleted afterwards.

    .venv/bin/python bench/memory.py                 # about 1.5 minutes, ~6.5 GB of temp disk
    .venv/bin/python bench/memory.py -n 200          # quicker
    .venv/bin/python bench/memory.py --diagnose      # also: tracemalloc of the main process
                                                      # (in-process, -n 200), top allocations

Results: bench/results/memory.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VENV = ROOT / ".venv" / "bin"
MIB = 1 << 20
GOAL_MB = 300

WORKFLOW = """\
name = "bench-memory"
description = "Text of each document, exported as Markdown and as JSON"

[[steps]]
id = "text"
uses = "document.text"

[[steps]]
id = "markdown"
uses = "export.markdown"
needs = ["text"]

[[steps]]
id = "json"
uses = "export.json"
needs = ["text"]
"""


# -- inputs ------------------------------------------------------------------------------------

def make_documents(folder: Path, n: int, size: int = MIB, seed: int = 7) -> None:
    """N different text files of ``size`` bytes: a random window of a pool of random words."""
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocab = ["".join(rng.choices(letters, k=rng.randint(2, 11))) for _ in range(20000)]
    words = rng.choices(vocab, k=(4 * size) // 6)
    lines = [" ".join(words[i:i + 12]) for i in range(0, len(words), 12)]
    pool = ("\n".join(lines) + "\n").encode()
    folder.mkdir(parents=True)
    for i in range(n):
        header = f"Document {i}: benchmark text\n\n".encode()
        start = rng.randrange(0, len(pool) - size)
        (folder / f"doc{i:05d}.txt").write_bytes(header + pool[start:start + size - len(header)])


# -- sampling /proc ------------------------------------------------------------------------------

def descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as fh:
                    kids = [int(k) for k in fh.read().split()]
                found += kids
                todo += kids
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return found


def read_kb(path: str, fields: tuple[str, ...]) -> dict[str, int]:
    values = {}
    try:
        with open(path) as fh:
            for line in fh:
                key, _, rest = line.partition(":")
                if key in fields:
                    values[key] = int(rest.split()[0])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return values


def process_name(pid: int, main_pid: int) -> str:
    """What a descendant of the main process is (pool workers carry the fork server's command line)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            ppid = int(fh.read().rpartition(")")[2].split()[1])
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            text = " ".join(a.decode(errors="replace") for a in fh.read().split(b"\0") if a)
    except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
        return "?"
    if "resource_tracker" in text:
        return "resource tracker"
    if "forkserver" in text:
        return "forkserver" if ppid == main_pid else "pool worker"
    return text[:40]


class Sampler(threading.Thread):
    def __init__(self, pid: int, interval: float, cap_mb: float, db: Path):
        super().__init__(daemon=True)
        self.pid, self.interval, self.cap_kb, self.db = pid, interval, cap_mb * 1024, db
        self.finished_at: float | None = None  # when the batch's status became final (then the CLI reports)
        self.peak_sum_rss_running = 0  # the peak until then
        self.stop = threading.Event()
        self.peak_main_rss = self.peak_main_hwm = self.peak_sum_rss = self.peak_sum_pss = 0
        self.peak_children_rss = 0
        self.per_child: dict[int, dict] = {}
        self.samples = 0
        self.capped = False
        self.timeline: list[tuple[float, int, int]] = []  # (s, main RSS kB, sum RSS kB)

    def run(self):
        start = time.perf_counter()
        while not self.stop.is_set():
            main = read_kb(f"/proc/{self.pid}/status", ("VmRSS", "VmHWM"))
            if not main:
                break
            kids = descendants(self.pid)
            total_rss, total_pss = main.get("VmRSS", 0), read_kb(f"/proc/{self.pid}/smaps_rollup", ("Pss",)).get("Pss", 0)
            children_rss = 0
            for kid in kids:
                status = read_kb(f"/proc/{kid}/status", ("VmRSS", "VmHWM"))
                pss = read_kb(f"/proc/{kid}/smaps_rollup", ("Pss",)).get("Pss", 0)
                children_rss += status.get("VmRSS", 0)
                total_pss += pss
                entry = self.per_child.setdefault(kid, {"name": process_name(kid, self.pid), "peak_rss_kb": 0, "hwm_kb": 0})
                entry["peak_rss_kb"] = max(entry["peak_rss_kb"], status.get("VmRSS", 0))
                entry["hwm_kb"] = max(entry["hwm_kb"], status.get("VmHWM", 0))
            total_rss += children_rss
            self.samples += 1
            self.peak_main_rss = max(self.peak_main_rss, main.get("VmRSS", 0))
            self.peak_main_hwm = max(self.peak_main_hwm, main.get("VmHWM", 0))
            self.peak_children_rss = max(self.peak_children_rss, children_rss)
            self.peak_sum_rss = max(self.peak_sum_rss, total_rss)
            self.peak_sum_pss = max(self.peak_sum_pss, total_pss)
            if self.finished_at is None:
                self.peak_sum_rss_running = max(self.peak_sum_rss_running, total_rss)
                if self.samples % 10 == 0 and self.batch_finished():
                    self.finished_at = time.perf_counter() - start
            if self.samples % 20 == 0:
                self.timeline.append((round(time.perf_counter() - start, 1), main.get("VmRSS", 0), total_rss))
            if total_rss > self.cap_kb:
                self.capped = True
                try:
                    os.killpg(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                break
            self.stop.wait(self.interval)


    def batch_finished(self) -> bool:
        if not self.db.exists():
            return False
        try:
            with contextlib.closing(sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=0.1)) as conn:
                row = conn.execute("SELECT count(*) FROM batches WHERE status IN ('succeeded', 'failed')").fetchone()
            return bool(row and row[0])
        except sqlite3.Error:
            return False


# -- the run -----------------------------------------------------------------------------------

def run_cli(workdir: Path, docs: Path, interval: float, cap_mb: float) -> dict:
    (workdir / "workflow.toml").write_text(WORKFLOW)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERCHAIN_")}
    cmd = [str(VENV / "paperchain"), "run", "workflow.toml", str(docs), "--out", "out"]
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    sampler = Sampler(proc.pid, interval, cap_mb, workdir / ".paperchain" / "paperchain.db")
    sampler.start()
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - t
    sampler.stop.set()
    sampler.join()
    tail = stdout.decode(errors="replace").strip().splitlines()[-4:]
    return {
        "exit_code": proc.returncode, "wall_s": wall, "capped_at_mb": cap_mb if sampler.capped else None,
        "samples": sampler.samples, "interval_s": interval,
        "main_peak_rss_mb": sampler.peak_main_rss / 1024, "main_vmhwm_mb": sampler.peak_main_hwm / 1024,
        "children_peak_rss_sum_mb": sampler.peak_children_rss / 1024,
        "total_peak_rss_mb": sampler.peak_sum_rss / 1024, "total_peak_pss_mb": sampler.peak_sum_pss / 1024,
        "batch_finished_at_s": sampler.finished_at, "total_peak_rss_until_batch_finished_mb": sampler.peak_sum_rss_running / 1024,
        "children": [{"pid": pid, **c} for pid, c in sorted(sampler.per_child.items())],
        "sum_of_process_peaks_mb": (sampler.peak_main_hwm + sum(c["hwm_kb"] for c in sampler.per_child.values())) / 1024,
        "timeline_s_mainkb_totalkb": sampler.timeline,
        "output_tail": tail, "stderr_tail": stderr.decode(errors="replace")[-2000:],
    }


def diagnose(docs: Path, workdir: Path, top: int = 6) -> str:
    """The same workflow in-process under tracemalloc: the largest live allocations near the peak."""
    code = f"""
import asyncio, gc, json, sys, tracemalloc
from pathlib import Path
tracemalloc.start(8)
from paperchain.config import load_config
from paperchain.kernel import Kernel
from paperchain.documents import expand_paths
from paperchain.engine.runner import RunState
from paperchain.outcomes import load_batch

MIB = 2 ** 20

def held_by_runs():
    \"\"\"Live RunStates, and the distinct large strings (document text, step outputs) they hold.\"\"\"
    states = [o for o in gc.get_objects() if isinstance(o, RunState)]
    strings = {{}}
    for state in states:
        values = [state.document.text if state.document else None]
        values += [v for step in state.steps.values() for v in step.outputs.values()]
        for value in values:
            if isinstance(value, str) and len(value) > 4096:
                strings[id(value)] = sys.getsizeof(value)
    return len(states), len(strings), sum(strings.values())

def main():
    kernel = Kernel(load_config(None, overrides={{"data_dir": {str(workdir / "diag-data")!r}}}))
    best = {{"size": 0, "snapshot": None, "runs": None}}
    done = [0]

    def finished(run):
        done[0] += 1
        if done[0] % 25 == 0:
            current, _ = tracemalloc.get_traced_memory()
            if current > best["size"]:
                best.update(size=current, snapshot=tracemalloc.take_snapshot(), runs=(done[0], *held_by_runs()))

    async def body():
        await kernel.open()
        try:
            kernel.engine.listeners.append(finished)
            wf = kernel.load_workflow(Path({str(workdir / "workflow.toml")!r}))
            batch = await kernel.engine.submit(wf, expand_paths([{str(docs)!r}]))
            await kernel.engine.run_batch(batch)
            before, _ = tracemalloc.get_traced_memory()
            outcome = await load_batch(kernel, batch)
            after, _ = tracemalloc.get_traced_memory()
            print(f"load_batch (the table `paperchain run` prints at the end) holds {{(after - before) / MIB:.0f}} MiB "
                  f"for {{len(outcome.runs)}} runs")
        finally:
            await kernel.close()

    asyncio.run(body())
    _, peak = tracemalloc.get_traced_memory()
    finished_runs, states, strings, size = best["runs"]
    print(f"traced peak {{peak / MIB:.0f}} MiB; largest snapshot {{best['size'] / MIB:.0f}} MiB after {{finished_runs}} finished runs")
    print(f"at that point {{states}} RunState objects were alive, holding {{strings}} distinct strings over 4 KiB "
          f"(document text, step outputs) of {{size / MIB:.0f}} MiB")
    snapshot = best["snapshot"].filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
    print("largest allocations by where they were made:")
    for stat in snapshot.statistics("traceback")[:{top}]:
        frames = list(stat.traceback)[::-1][:4]
        where = " <- ".join(f"{{Path(f.filename).parent.name}}/{{Path(f.filename).name}}:{{f.lineno}}" for f in frames)
        print(f"{{stat.size / MIB:8.1f}} MiB {{stat.count:8d}} blocks  {{where}}")

if __name__ == "__main__":
    main()
"""
    script = workdir / "diagnose.py"
    script.write_text(code)
    proc = subprocess.run([str(VENV / "python"), str(script)], cwd=workdir, capture_output=True, text=True)
    return proc.stdout + (proc.stderr[-3000:] if proc.returncode else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=1000, help="documents of 1 MiB")
    parser.add_argument("--interval", type=float, default=0.05, help="seconds between /proc samples")
    parser.add_argument("--cap-mb", type=float, default=8000, help="stop the run above this total RSS")
    parser.add_argument("--diagnose", action="store_true", help="also run in-process under tracemalloc")
    parser.add_argument("--diagnose-n", type=int, default=200)
    parser.add_argument("--tmp", default=None, help="parent folder for the temp dir (default: system temp)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-memory-", dir=args.tmp))
    try:
        docs = work / "documents"
        t = time.perf_counter()
        make_documents(docs, args.n)
        print(f"{args.n} documents of 1 MiB generated in {time.perf_counter() - t:.1f} s; running paperchain…", flush=True)
        result = run_cli(work, docs, args.interval, args.cap_mb)
        du = subprocess.run(["du", "-sm", str(work / ".paperchain")], capture_output=True, text=True).stdout.split()
        result["data_dir_mb"] = int(du[0]) if du else None
        diagnosis = None
        if args.diagnose:
            shutil.rmtree(work / ".paperchain", ignore_errors=True)
            shutil.rmtree(work / "out", ignore_errors=True)
            small = work / "small"
            small.mkdir()
            for path in sorted(docs.iterdir())[:args.diagnose_n]:
                path.rename(small / path.name)
            print(f"diagnosing: {args.diagnose_n} documents in-process under tracemalloc…", flush=True)
            diagnosis = diagnose(small, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    r = result
    print(f"\npaperchain run: {args.n} x 1 MiB text documents, document.text -> export.markdown + export.json")
    print(f"exit code {r['exit_code']}, {r['wall_s']:.1f} s, {r['samples']} samples every {args.interval * 1000:.0f} ms, "
          f"data dir {r['data_dir_mb']} MB" + (f"; STOPPED at the {args.cap_mb:.0f} MB cap" if r["capped_at_mb"] else ""))
    print(f"\n{'process':<44} {'peak RSS MB':>12}")
    print("-" * 57)
    print(f"{'main (sampled RSS)':<44} {r['main_peak_rss_mb']:>12.0f}")
    print(f"{'main (kernel VmHWM)':<44} {r['main_vmhwm_mb']:>12.0f}")
    for child in r["children"]:
        print(f"{'  ' + child['name'] + ' ' + str(child['pid']):<44} {child['hwm_kb'] / 1024:>12.0f}")
    print(f"{'children together (sampled)':<44} {r['children_peak_rss_sum_mb']:>12.0f}")
    print(f"{'main + children, RSS (sampled)':<44} {r['total_peak_rss_mb']:>12.0f}")
    print(f"{'main + children, PSS (shared pages once)':<44} {r['total_peak_pss_mb']:>12.0f}")
    print(f"{'sum of each process own peak (upper bound)':<44} {r['sum_of_process_peaks_mb']:>12.0f}")
    if r["batch_finished_at_s"] is not None:
        print(f"{'main + children, RSS, until batch finished':<44} {r['total_peak_rss_until_batch_finished_mb']:>12.0f}"
              f"   (finished at {r['batch_finished_at_s']:.0f} s of {r['wall_s']:.0f} s; then the CLI loads the batch to print it)")
    verdict = "met" if r["total_peak_rss_mb"] < GOAL_MB and not r["exit_code"] else "NOT met"
    print(f"\nGoal: under {GOAL_MB} MB: {verdict} (main {r['main_vmhwm_mb']:.0f} MB, all processes {r['total_peak_rss_mb']:.0f} MB RSS / "
          f"{r['total_peak_pss_mb']:.0f} MB PSS)")
    if r["exit_code"]:
        print("paperchain run failed:\n" + "\n".join(r["output_tail"]) + "\n" + r["stderr_tail"])
    if diagnosis:
        print("\ntracemalloc, main process, largest live allocations at the sampled peak:\n" + diagnosis)

    out = HERE / "results" / "memory.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({
        "benchmark": "memory", "date": time.strftime("%Y-%m-%d %H:%M:%S %z"), "host": platform.node(),
        "cpus": os.cpu_count(), "python": platform.python_version(), "documents": args.n, "document_bytes": MIB,
        "workflow": WORKFLOW, "goal_mb": GOAL_MB, "result": result, "diagnosis": diagnosis,
    }, indent=2))
    print(f"\nWrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    sys.exit(main())
