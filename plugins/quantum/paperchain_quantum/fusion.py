"""Gate fusion: gather neighbouring gates into blocks of at most ``max_size`` qubits.

Each block is then applied in one pass over the state, so a circuit costs one pass per block
rather than one per gate (qsim's technique; this greedy rule is ours). Gates arrive in circuit
order. A gate joins the newest block among those last touching its qubits when the union stays
within ``max_size``; older blocks that are still the last on all their qubits (nothing was
applied after them on those qubits) may be pulled forward into it, since they commute with
everything in between. Otherwise the gate opens a new block, absorbing such frontier blocks too.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs
import numpy as np


@attrs.define(eq=False)
class Block:
    qubits: set[int]
    gates: list[tuple[tuple[int, ...], np.ndarray]]
    index: int
    alive: bool = True


@attrs.frozen
class FusedBlock:
    """A fused gate: ``matrix`` acts on ``qubits`` (ascending; the first is its most significant bit)."""

    qubits: tuple[int, ...]
    matrix: np.ndarray


def fuse(gates: Sequence[tuple[tuple[int, ...], np.ndarray]], max_size: int = 4) -> list[FusedBlock]:
    """Fuse ``(qubit indices, unitary)`` pairs, in circuit order, into blocks of ``<= max_size`` qubits.

    A gate wider than ``max_size`` becomes a block of its own.
    """
    blocks: list[Block] = []
    last: dict[int, Block] = {}

    def frontier(block: Block) -> bool:
        return all(last.get(q) is block for q in block.qubits)

    def absorb(into: Block, other: Block) -> None:
        # ``other`` is a frontier block earlier than ``into``: its gates move to ``into``'s front.
        into.gates[:0] = other.gates
        into.qubits |= other.qubits
        other.alive = False
        for q in other.qubits:
            last[q] = into

    for qubits, matrix in gates:
        touched = {id(b): b for b in (last.get(q) for q in qubits) if b is not None}
        newest = max(touched.values(), key=lambda b: b.index, default=None)
        if newest is not None and len(newest.qubits | set(qubits)) <= max_size:
            target = newest
        else:
            target = Block(qubits=set(qubits), gates=[], index=len(blocks))
            blocks.append(target)
        for other in sorted(touched.values(), key=lambda b: b.index):
            if other is target or not frontier(other):
                continue
            if len(target.qubits | other.qubits | set(qubits)) <= max_size:
                if other.index < target.index:
                    absorb(target, other)
        target.gates.append((tuple(qubits), matrix))
        target.qubits |= set(qubits)
        for q in qubits:
            last[q] = target
    return [_matrix_of(b) for b in blocks if b.alive]


def _matrix_of(block: Block) -> FusedBlock:
    qubits = tuple(sorted(block.qubits))
    k = len(qubits)
    axis = {q: i for i, q in enumerate(qubits)}
    tensor = np.eye(1 << k, dtype=np.complex128).reshape((2,) * (2 * k))
    for gate_qubits, matrix in block.gates:
        g = len(gate_qubits)
        targets = [axis[q] for q in gate_qubits]
        moved = np.tensordot(matrix.reshape((2,) * (2 * g)), tensor, axes=(list(range(g, 2 * g)), targets))
        tensor = np.moveaxis(moved, list(range(g)), targets)
    return FusedBlock(qubits=qubits, matrix=tensor.reshape(1 << k, 1 << k))
