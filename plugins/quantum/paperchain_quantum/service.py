"""Run a circuit or an algorithm: the one place the workflow steps and the CLI share."""

from __future__ import annotations

import inspect

import numpy as np

from paperchain_sdk import InputError


def check_bounds(circuit, *, max_qubits: int, max_gates: int, field: str = "the circuit") -> None:
    qubits = len(circuit.all_qubits())
    if qubits > max_qubits:
        raise InputError(f"{field} has {qubits} qubits; at most {max_qubits} are allowed here.",
                         hint="use fewer qubits, or raise the limit in the quantum settings")
    gates = sum(1 for _ in circuit.all_operations())
    if gates > max_gates:
        raise InputError(f"{field} has {gates} operations; at most {max_gates} are allowed here.",
                         hint="use a shorter circuit, or raise max_gates in the quantum settings")


def run_circuit(circuit, *, shots: int = 1000, backend: str = "paperchain", max_qubits: int = 28,
                seed: int | None = None, max_gates: int = 1_000_000, time_limit: float | None = None) -> dict:
    """Counts of every measurement key (all qubits measured when the circuit measures none)."""
    import cirq

    from .results import circuit_svg
    from .simulator import Simulator

    check_bounds(circuit, max_qubits=max_qubits, max_gates=max_gates)
    qubits = sorted(circuit.all_qubits())
    measured = circuit if circuit.has_measurements() else circuit + cirq.measure(*qubits, key="m")
    if backend == "paperchain":
        sim = Simulator(seed=seed, max_qubits=max_qubits, time_limit=time_limit)
    elif _noisy(circuit):  # noise channels: Cirq's density-matrix simulator gives exact mixtures
        sim = cirq.DensityMatrixSimulator(seed=seed)
    else:
        sim = cirq.Simulator(seed=seed)
    result = sim.run(measured, repetitions=shots)
    counts = {}
    for key, flat in _registers({k: v[:, -1, :] for k, v in result.records.items()}).items():  # last instance of a key
        strings = ["".join(map(str, row)) for row in flat.astype(int)]
        unique, number = np.unique(strings, return_counts=True)
        order = np.argsort(-number, kind="stable")
        counts[key] = {str(unique[i]): int(number[i]) for i in order}
    return {"backend": backend, "qubits": len(qubits), "shots": shots, "counts": counts,
            "most_likely": {k: list(v)[:4] for k, v in counts.items()},
            "circuit": str(circuit), "svg": circuit_svg(circuit)}


def _registers(records: dict) -> dict:
    """Join the one-bit keys an OpenQASM register becomes in Cirq (``c_0``, ``c_1`` … from
    ``creg c[3]``) back into the register, printed as OpenQASM does: ``c[2] c[1] c[0]``. A GHZ
    state then shows as 000 and 111, not as three unrelated coins."""
    import re

    groups: dict[str, dict[int, str]] = {}
    for key, values in records.items():
        match = re.fullmatch(r"(.+)_(\d+)", key)
        if match and values.shape[1] == 1:
            groups.setdefault(match.group(1), {})[int(match.group(2))] = key
    out = dict(records)
    for register, bits in groups.items():
        if len(bits) > 1 and sorted(bits) == list(range(len(bits))) and register not in records:
            out[register] = np.concatenate([records[bits[i]] for i in reversed(range(len(bits)))], axis=1)
            for key in bits.values():
                del out[key]
    return out


def _noisy(circuit) -> bool:
    import cirq

    return any(not cirq.is_measurement(op) and not cirq.has_unitary(op) and not op.classical_controls
               for op in circuit.all_operations())


def final_state(circuit, *, backend: str = "paperchain", max_qubits: int = 20) -> dict:
    """The final amplitudes (as [real, imaginary] pairs) in Cirq's qubit order."""
    import cirq

    from .simulator import Simulator

    qubits = sorted(circuit.all_qubits())
    if len(qubits) > max_qubits:
        raise InputError(f"the circuit has {len(qubits)} qubits; amplitudes are printed for at most {max_qubits}")
    sim = Simulator(dtype=np.complex128) if backend == "paperchain" else cirq.Simulator(dtype=np.complex128)
    vector = sim.simulate(circuit, qubit_order=qubits).final_state_vector
    return {"qubits": [str(q) for q in qubits],
            "amplitudes": [[float(a.real), float(a.imag)] for a in vector]}


def run_algorithm(name: str, params: dict) -> dict:
    from .algorithms import ALGORITHMS

    if name not in ALGORITHMS:
        raise InputError(f"unknown algorithm {name!r}", hint=f"use one of {', '.join(ALGORITHMS)}")
    function = ALGORITHMS[name][0]
    accepted = inspect.signature(function).parameters
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise InputError(f"{name} takes no parameter {', '.join(unknown)}", hint=f"it takes {', '.join(accepted)}")
    try:
        return function(**params)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name}: bad parameters {params}: {exc}") from None
