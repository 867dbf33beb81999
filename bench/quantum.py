"""Quantum benchmark: paperchain_quantum.Simulator against qsim and cirq.Simulator on the circuits of
qsim's own tutorial (random rotations between grid interaction layers, depth 16, seed 0).

    .venv/bin/python bench/quantum.py                 # 4x5 and 4x6 grids (20, 24 qubits), all peers
    .venv/bin/python bench/quantum.py --quick         # 4x5 only
    .venv/bin/python bench/quantum.py --grids 4x6 5x5 --no-cirq   # 24 and 25 qubits, qsim only

Times are the best of --repeats runs in one process (cirq.Simulator: one run).

Every simulator runs in its own child process (final state vector, 2 threads, complex64), so its
peak resident memory (VmHWM, reset just before the run) is its own. Fidelity is against cirq.Simulator in complex128 when cirq runs,
else against qsim. Prints a table with ratios and writes bench/results/quantum.json. Needs qsimcirq
(the plugin's `bench` extra: pip install -e 'plugins/quantum[bench]').
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "quantum.json"

CHILD = r"""
import json, sys, time
import numpy as np
rows, cols, which, out, threads, repeats = (int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4],
                                            int(sys.argv[5]), int(sys.argv[6]))
import cirq
qubits = cirq.GridQubit.rect(rows, cols)
circuit = cirq.experiments.random_rotations_between_grid_interaction_layers_circuit(qubits, depth=16, seed=0)
info = {}
if which == "paperchain":
    import paperchain_quantum
    start = time.perf_counter()
    sim = paperchain_quantum.Simulator(threads=threads)
    sim.state_vector(cirq.Circuit(cirq.H.on_each(*cirq.LineQubit.range(8))))  # load (or compile) the kernels
    info["compile_s"] = time.perf_counter() - start
    run = lambda: sim.state_vector(circuit, qubit_order=qubits)
elif which == "qsim":
    import qsimcirq
    sim = qsimcirq.QSimSimulator(qsimcirq.QSimOptions(max_fused_gate_size=4, cpu_threads=threads))
    run = lambda: sim.simulate(circuit, qubit_order=qubits).final_state_vector
else:
    dtype = np.complex128 if which == "cirq128" else np.complex64
    sim = cirq.Simulator(dtype=dtype)
    run = lambda: sim.simulate(circuit, qubit_order=qubits).final_state_vector
def status(field):  # /proc/self/status in bytes: VmHWM is this process's own peak (ru_maxrss is not: it keeps the parent's across exec)
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(field + ":"))
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset the peak to the current resident size
base = status("VmRSS")
times = []
for _ in range(repeats):
    state = None  # the previous answer goes before the next run, as in a loop of a user's program
    start = time.perf_counter()
    state = run()
    times.append(time.perf_counter() - start)
info["seconds"] = min(times)
info["all_seconds"] = times
info["peak_bytes"] = status("VmHWM") - base
np.save(out, state)
print(json.dumps(info))
"""


def child(rows: int, cols: int, which: str, folder: str, threads: int, repeats: int) -> tuple[dict, np.ndarray]:
    out = str(Path(folder) / f"{which}-{rows}x{cols}.npy")
    done = subprocess.run([sys.executable, "-c", CHILD, str(rows), str(cols), which, out, str(threads), str(repeats)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{which} on {rows}x{cols} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1]), np.load(out)


def fidelity(a: np.ndarray, b: np.ndarray) -> float:
    return float(abs(np.vdot(a.astype(np.complex128), b.astype(np.complex128))) ** 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the 4x5 grid (20 qubits) only")
    parser.add_argument("--grids", nargs="+", default=["4x5", "4x6"], help="grids as ROWSxCOLS (5x5: 25 qubits)")
    parser.add_argument("--no-cirq", action="store_true", help="skip cirq.Simulator (about 50 s at 24 qubits)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="runs per simulator (the best counts; cirq runs once)")
    args = parser.parse_args()
    grids = ["4x5"] if args.quick else args.grids
    try:
        import qsimcirq  # noqa: F401
    except ImportError:
        raise SystemExit("qsimcirq is missing: pip install -e 'plugins/quantum[bench]'") from None
    report = []
    with tempfile.TemporaryDirectory() as folder:
        for grid in grids:
            rows, cols = (int(x) for x in grid.split("x"))
            n = rows * cols
            peers = ["paperchain", "qsim"] + ([] if args.no_cirq else ["cirq64", "cirq128"])
            runs = {which: child(rows, cols, which, folder, args.threads, 1 if which.startswith("cirq") else args.repeats)
                    for which in peers}
            reference = runs["cirq128"][1] if "cirq128" in runs else runs["qsim"][1]
            ours = runs["paperchain"][0]["seconds"]
            state_bytes = 8 << n
            for which, (info, state) in runs.items():
                row = {"grid": grid, "qubits": n, "simulator": which, **info,
                       "fidelity": fidelity(state, reference),
                       "fidelity_against": "cirq128" if "cirq128" in runs else "qsim",
                       "paperchain_speedup": info["seconds"] / ours,
                       "peak_over_state": info["peak_bytes"] / state_bytes}
                report.append(row)
                print(f"{grid} ({n} qubits)  {which:<10} {info['seconds']:8.2f} s   "
                      f"{row['paperchain_speedup']:5.2f}x paperchain's time   fidelity {row['fidelity']:.6f}   "
                      f"peak {info['peak_bytes'] / 2**20:7.0f} MiB ({row['peak_over_state']:.2f} x 8 x 2^n)"
                      + (f"   kernels ready in {info['compile_s']:.2f} s" if "compile_s" in info else ""))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
