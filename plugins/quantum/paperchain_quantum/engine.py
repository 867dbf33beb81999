"""Compile a resolved Cirq circuit into fused blocks and measurements, and run it on one state buffer."""

from __future__ import annotations

import time
from collections.abc import Sequence

import attrs
import cirq
import numpy as np

from paperchain_sdk import InputError

from . import gpu, kernels, reference
from .fusion import FusedBlock, fuse


@attrs.frozen
class Measure:
    key: str
    qubits: tuple[int, ...]
    invert: tuple[bool, ...]


@attrs.define
class Program:
    """What the kernels run: fused unitary stretches split by measurements."""

    qubits: tuple[cirq.Qid, ...]
    steps: list  # list[FusedBlock] stretches and Measure steps, in order
    terminal_measurements: bool
    gate_count: int

    @property
    def block_count(self) -> int:
        return sum(len(s) for s in self.steps if isinstance(s, list))


WIDE = 6  # gates on more qubits than this are decomposed, or applied through cirq.apply_unitary


@attrs.frozen
class Wide:
    """A gate too wide for a dense matrix: applied with its own ``_apply_unitary_`` (one extra buffer)."""

    op: cirq.Operation
    axes: tuple[int, ...]


def _narrow(operations, max_fused: int):
    """Decompose gates wider than ``max_fused`` qubits where Cirq knows how (QFT, multi-controlled
    gates); keep the rest as they are."""
    for op in operations:
        if len(op.qubits) <= max_fused or isinstance(op.gate, cirq.MeasurementGate):
            yield op
            continue
        parts = cirq.decompose_once(op, default=None)
        if parts is None:
            yield op
        else:
            yield from _narrow(parts, max_fused)


class Unsupported(Exception):
    """The circuit holds something the fused kernels do not run (noise, classical control, resets)."""


def compile_circuit(circuit: cirq.AbstractCircuit, qubits: Sequence[cirq.Qid], max_fused: int = 4) -> Program:
    """Fused blocks for a circuit without free parameters; raise Unsupported for what needs Cirq."""
    index = {q: i for i, q in enumerate(qubits)}
    if any(isinstance(op.untagged, cirq.CircuitOperation) for op in circuit.all_operations()):
        circuit = cirq.unroll_circuit_op(circuit, deep=True, tags_to_check=None)
    steps: list = []
    pending: list[tuple[tuple[int, ...], np.ndarray]] = []
    gates = 0
    for op in _narrow(circuit.all_operations(), max_fused):
        if isinstance(op.gate, cirq.MeasurementGate) and not op.classical_controls:
            if op.gate.confusion_map:
                raise Unsupported("measurement with a confusion map")
            if pending:
                steps.append(fuse(pending, max_fused))
                pending = []
            invert = tuple(op.gate.full_invert_mask())
            steps.append(Measure(key=op.gate.key, qubits=tuple(index[q] for q in op.qubits), invert=invert))
            continue
        if any(q.dimension != 2 for q in op.qubits):
            raise Unsupported(f"{op} acts on a qudit")
        if not cirq.has_unitary(op):
            raise Unsupported(f"{op} is not unitary")
        if len(op.qubits) > WIDE:  # e.g. modular arithmetic: cirq applies it as a permutation
            if pending:
                steps.append(fuse(pending, max_fused))
                pending = []
            steps.append(Wide(op=op, axes=tuple(index[q] for q in op.qubits)))
            gates += 1
            continue
        matrix = cirq.unitary(op)
        if not op.qubits:  # a global phase: a 0-qubit block, folded into a neighbour below
            matrix = np.asarray(matrix).reshape(1, 1)
        pending.append((tuple(index[q] for q in op.qubits), np.asarray(matrix, dtype=np.complex128)))
        gates += 1
    if pending:
        steps.append(fuse(pending, max_fused))
    return Program(qubits=tuple(qubits), steps=[_fold_global_phase(s) for s in steps],
                   terminal_measurements=circuit.are_all_measurements_terminal(), gate_count=gates)


def _fold_global_phase(step):
    # A global phase gate fuses into an empty-qubit block; fold it into a neighbour (or drop it
    # into a 1-qubit identity when it is all there is) so every block has at least one qubit.
    if not isinstance(step, list):
        return step
    phase = 1.0 + 0j
    kept: list[FusedBlock] = []
    for block in step:
        if block.qubits:
            kept.append(block)
        else:
            phase *= complex(block.matrix[0, 0])
    if phase != 1.0:
        if kept:
            kept[0] = FusedBlock(kept[0].qubits, kept[0].matrix * phase)
        else:
            kept.append(FusedBlock((0,), np.eye(2) * phase))
    return kept


def new_state(n: int, dtype, initial_state) -> np.ndarray:
    """The starting state vector (one allocation)."""
    if initial_state is None or isinstance(initial_state, (int, np.integer)):
        state = np.zeros(1 << n, dtype=dtype)
        state[int(initial_state or 0)] = 1
        return state
    if isinstance(initial_state, cirq.StateVectorSimulationState):
        initial_state = initial_state.target_tensor
    vector = np.asarray(initial_state).reshape(-1)
    if vector.size != 1 << n:
        raise ValueError(f"initial_state has {vector.size} amplitudes; {n} qubits need {1 << n}")
    return vector.astype(dtype, copy=True)


class TimeLimitExceeded(InputError):
    """The simulation ran past its time limit (checked between fused blocks and between shots)."""


def check_deadline(deadline: float | None) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise TimeLimitExceeded("the simulation ran past its time limit and was stopped.",
                                hint="raise the time limit, or use fewer qubits, gates or shots")


def apply_blocks(state, blocks: Sequence[FusedBlock], n: int, threads: int = 2, deadline: float | None = None) -> None:
    """Apply fused blocks in place: CuPy arrays on the GPU, NumPy arrays through Numba."""
    if not isinstance(state, np.ndarray):
        check_deadline(deadline)
        gpu.apply_blocks(state, blocks, n)
        return
    import numba

    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    real = np.float32 if state.dtype == np.complex64 else np.float64
    for block in blocks:
        check_deadline(deadline)
        positions = np.array([n - 1 - q for q in block.qubits])
        tiles = state.size // (kernels.TILE << len(block.qubits))
        if tiles == 0:  # a handful of amplitudes: not worth a kernel launch
            state[:] = reference.apply_block(state, block.matrix, positions)
            continue
        offsets, ascending = kernels.block_layout(positions)
        chunks = max(1, min(tiles, threads * 16))
        kernels.apply_block(state, np.ascontiguousarray(block.matrix.real, dtype=real),
                            np.ascontiguousarray(block.matrix.imag, dtype=real), offsets, ascending, chunks)


def probabilities(state) -> np.ndarray:
    if not isinstance(state, np.ndarray):
        state = state.get()
    out = np.empty(state.size, dtype=np.float64)
    kernels.probabilities(state, out)
    total = out.sum()
    return out / total if total > 0 else out


def measure(state, n: int, step: Measure, rng: np.random.Generator) -> np.ndarray:
    """Measure ``step.qubits`` of the state: sample an outcome, collapse in place, return the bits."""
    xp = np if isinstance(state, np.ndarray) else __import__("cupy")
    tensor = state.reshape((2,) * n)
    others = tuple(a for a in range(n) if a not in step.qubits)
    weights = (xp.abs(tensor) ** 2).sum(axis=others) if others else xp.abs(tensor) ** 2
    weights = np.asarray(weights.get() if xp is not np else weights, dtype=np.float64)
    # sum() keeps the measured axes in ascending order; reorder to the measurement's qubit order
    order = np.argsort(np.argsort(step.qubits))
    weights = np.transpose(weights, order) if len(step.qubits) > 1 else weights
    flat = weights.reshape(-1) / weights.sum()
    outcome = int(rng.choice(flat.size, p=flat))
    bits = np.array([(outcome >> (len(step.qubits) - 1 - i)) & 1 for i in range(len(step.qubits))], dtype=np.uint8)
    for q, bit in zip(step.qubits, bits):
        index = [slice(None)] * n
        index[q] = 1 - int(bit)
        tensor[tuple(index)] = 0
    state /= xp.sqrt(xp.sum(xp.abs(state) ** 2))
    return bits ^ np.array(step.invert, dtype=np.uint8)


def execute(program: Program, state, rng: np.random.Generator, threads: int = 2,
            deadline: float | None = None) -> dict[str, list[np.ndarray]]:
    """Run every step on ``state`` in place; the measured bits per key (one array per instance)."""
    n = len(program.qubits)
    records: dict[str, list[np.ndarray]] = {}
    for step in program.steps:
        if isinstance(step, Measure):
            records.setdefault(step.key, []).append(measure(state, n, step, rng))
        else:
            apply_step(state, n, step, threads, deadline)
    return records


def sample_terminal(program: Program, state, repetitions: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Sample every terminal measurement from the final state's probabilities (no collapse)."""
    n = len(program.qubits)
    probs = probabilities(state)
    cumulative = np.cumsum(probs)
    draws = np.searchsorted(cumulative, rng.random(repetitions) * cumulative[-1], side="right")
    draws = np.minimum(draws, probs.size - 1)
    out: dict[str, list[np.ndarray]] = {}
    for step in program.steps:
        if isinstance(step, Measure):
            bits = np.stack([(draws >> (n - 1 - q)) & 1 for q in step.qubits], axis=1).astype(np.uint8)
            out.setdefault(step.key, []).append(bits ^ np.array(step.invert, dtype=np.uint8))
    return {key: np.stack(instances, axis=1) for key, instances in out.items()}


def apply_wide(state, n: int, step: Wide) -> None:
    host = state if isinstance(state, np.ndarray) else state.get()
    tensor = host.reshape((2,) * n)
    buffer = np.empty_like(tensor)
    result = cirq.apply_unitary(step.op, cirq.ApplyUnitaryArgs(tensor, buffer, step.axes))
    if result is not tensor:
        tensor[...] = result
    if host is not state:
        state.set(host)


def apply_step(state, n: int, step, threads: int, deadline: float | None = None) -> None:
    if isinstance(step, Wide):
        check_deadline(deadline)
        apply_wide(state, n, step)
    else:
        apply_blocks(state, step, n, threads, deadline)
