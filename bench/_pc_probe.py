import asyncio, os, sys, tempfile, time
from pathlib import Path
from paperchain_sdk import ActionSpec, hookimpl
from paperchain.harness import KernelHarness

class Noop:
    def __init__(self, settings=None): pass
    async def run(self, ctx, inputs): return {}

class BenchPlugin:
    @staticmethod
    @hookimpl
    def paperchain_actions():
        return [ActionSpec(name="bench.noop", impl=Noop)]

if __name__ == "__main__":
    n = int(sys.argv[1])
    tmp = Path(tempfile.mkdtemp())
    inp = tmp / "in"; inp.mkdir()
    for i in range(n):
        (inp / f"doc{i:05d}.txt").write_text(f"document {i}\n")
    steps = [{"id": f"s{i}", "uses": "bench.noop"} for i in range(1, 11)]
    h = KernelHarness([BenchPlugin], data_dir=tmp / "data")
    wf = {"name": "bench", "steps": steps}
    t = time.perf_counter()
    out = h.run(wf, files=[inp])
    print(time.perf_counter() - t, out.status, out.counts())
    h.close()
