"""Circuit input: OpenQASM 2.0 (cirq's importer; 3.0 where it reads it), Cirq JSON, or a JSON gate list.

Every failure is an InputError naming the line or the gate at fault.
"""

from __future__ import annotations

import json
from pathlib import Path

import cirq

from paperchain_sdk import InputError

GATES = {  # gate-list name -> (cirq gate or factory taking params, qubit count, parameter count)
    "x": (cirq.X, 1, 0), "y": (cirq.Y, 1, 0), "z": (cirq.Z, 1, 0), "h": (cirq.H, 1, 0), "s": (cirq.S, 1, 0),
    "t": (cirq.T, 1, 0), "sdg": (cirq.S**-1, 1, 0), "tdg": (cirq.T**-1, 1, 0),
    "rx": (cirq.rx, 1, 1), "ry": (cirq.ry, 1, 1), "rz": (cirq.rz, 1, 1),
    "cx": (cirq.CNOT, 2, 0), "cnot": (cirq.CNOT, 2, 0), "cz": (cirq.CZ, 2, 0), "swap": (cirq.SWAP, 2, 0),
    "iswap": (cirq.ISWAP, 2, 0), "ccx": (cirq.CCX, 3, 0), "ccz": (cirq.CCZ, 3, 0), "cswap": (cirq.CSWAP, 3, 0),
}
MAX_GATE_LIST_QUBITS = 40


def load(text: str, fmt: str = "auto", source: str = "circuit") -> cirq.Circuit:
    """A circuit from text: ``fmt`` is qasm, cirq-json, gates or auto (guessed from the content)."""
    if fmt == "auto":
        stripped = text.lstrip()
        if stripped.startswith("OPENQASM") or stripped.startswith("//"):
            fmt = "qasm"
        elif stripped.startswith("{") and '"cirq_type"' in text:
            fmt = "cirq-json"
        elif stripped.startswith("{"):
            fmt = "gates"
        else:
            raise InputError(f"{source}: not OpenQASM (starts with 'OPENQASM'), Cirq JSON or a JSON gate list.",
                             hint='give an OpenQASM 2.0 file or {"qubits": 2, "gates": [{"gate": "h", "targets": [0]}]}')
    if fmt == "qasm":
        return _qasm(text, source)
    if fmt == "cirq-json":
        try:
            circuit = cirq.read_json(json_text=text)
        except Exception as exc:  # noqa: BLE001 - cirq raises many kinds for bad JSON
            raise InputError(f"{source}: not a Cirq JSON circuit: {exc}") from None
        if not isinstance(circuit, cirq.AbstractCircuit):
            raise InputError(f"{source}: the Cirq JSON holds a {type(circuit).__name__}, not a circuit")
        return cirq.Circuit(circuit)
    if fmt == "gates":
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise InputError(f"{source}: not valid JSON: {exc}") from None
        return from_gate_list(data, source)
    raise InputError(f"unknown circuit format {fmt!r}", hint="use qasm, cirq-json, gates or auto")


def load_file(path: str, fmt: str = "auto") -> cirq.Circuit:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read circuit file {path}: {exc}") from None
    return load(text, fmt, source=path)


def _qasm(text: str, source: str) -> cirq.Circuit:
    from cirq.contrib.qasm_import import QasmException, circuit_from_qasm

    try:
        return circuit_from_qasm(text)
    except QasmException as exc:
        raise InputError(f"{source}: OpenQASM error: {exc.message}") from None
    except Exception as exc:  # noqa: BLE001 - the parser's other failures (e.g. lexer errors)
        raise InputError(f"{source}: OpenQASM error: {exc}") from None


def from_gate_list(data, source: str = "gates") -> cirq.Circuit:
    """``{"qubits": N, "gates": [{"gate": "rx", "targets": [0], "params": [0.5]}, {"gate": "measure",
    "targets": [0, 1], "key": "m"}]}`` as a circuit; errors name ``gates[i]``."""
    if not isinstance(data, dict) or not isinstance(data.get("gates"), list):
        raise InputError(f"{source}: a gate list is an object with 'qubits' and a 'gates' list")
    n = data.get("qubits")
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_GATE_LIST_QUBITS:
        raise InputError(f"{source}: qubits must be a whole number from 1 to {MAX_GATE_LIST_QUBITS}, got {n!r}")
    q = cirq.LineQubit.range(n)
    circuit = cirq.Circuit()
    for i, gate in enumerate(data["gates"]):
        where = f"{source}: gates[{i}]"
        if not isinstance(gate, dict) or not isinstance(gate.get("gate"), str):
            raise InputError(f"{where} must be an object with a 'gate' name")
        name = gate["gate"].lower()
        targets = gate.get("targets")
        if not isinstance(targets, list) or not targets or not all(
                isinstance(t, int) and not isinstance(t, bool) and 0 <= t < n for t in targets):
            raise InputError(f"{where} ({name}): targets must be a list of qubit numbers from 0 to {n - 1}, got {targets!r}")
        if len(set(targets)) != len(targets):
            raise InputError(f"{where} ({name}): a qubit appears twice in targets {targets}")
        if name == "measure":
            circuit.append(cirq.measure(*(q[t] for t in targets), key=str(gate.get("key", "m"))))
            continue
        if name not in GATES:
            raise InputError(f"{where}: unknown gate {name!r}", hint=f"use one of {', '.join(sorted(GATES))}, measure")
        factory, arity, nparams = GATES[name]
        if len(targets) != arity:
            raise InputError(f"{where} ({name}): takes {arity} target(s), got {len(targets)}")
        params = gate.get("params", [])
        if not isinstance(params, list) or len(params) != nparams or not all(
                isinstance(p, (int, float)) and not isinstance(p, bool) for p in params):
            raise InputError(f"{where} ({name}): params must be a list of {nparams} number(s), got {params!r}")
        circuit.append((factory(*params) if nparams else factory).on(*(q[t] for t in targets)))
    return circuit
