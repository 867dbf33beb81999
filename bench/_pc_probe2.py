import asyncio, os, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, os.path.dirname(__file__))
from _pc_probe import BenchPlugin
from paperchain.harness import KernelHarness
from paperchain.documents import expand_paths

if __name__ == "__main__":
    n = int(sys.argv[1]); shape = sys.argv[2] if len(sys.argv) > 2 else "chain"
    tmp = Path(tempfile.mkdtemp())
    inp = tmp / "in"; inp.mkdir()
    for i in range(n):
        (inp / f"doc{i:05d}.txt").write_text(f"document {i}\n")
    needs = {"s1": [], "s2": ["s1"], "s3": ["s1"], "s4": ["s1"], "s5": ["s2","s3","s4"], "s6": ["s5"], "s7": ["s6"], "s8": ["s6"], "s9": ["s7","s8"], "s10": ["s9"]}
    steps = [{"id": k, "uses": "bench.noop", "needs": v} for k, v in needs.items()]
    h = KernelHarness([BenchPlugin], data_dir=tmp / "data")
    wf = h.kernel.load_workflow({"name": "bench", "steps": steps})
    async def go():
        e = h.kernel.engine
        t0 = time.perf_counter()
        b = await e.submit(wf, expand_paths([inp]))
        t1 = time.perf_counter()
        await e.run_batch(b)
        t2 = time.perf_counter()
        print(f"submit {t1-t0:.2f}s run {t2-t1:.2f}s total {t2-t0:.2f}s  steps/s {n*10/(t2-t0):.0f} (run only {n*10/(t2-t1):.0f}) commits {h.kernel.journal.commits}")
    if os.environ.get("PROF"):
        import cProfile, pstats
        cProfile.run("h.call(go())", "/tmp/pc.prof")
        pstats.Stats("/tmp/pc.prof").sort_stats("cumulative").print_stats(45)
        pstats.Stats("/tmp/pc.prof").sort_stats("tottime").print_stats(30)
    else:
        h.call(go())
    h.close()
