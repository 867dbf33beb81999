"""Pure-NumPy reference for the kernels: the same block application, written as a tensor contraction."""

from __future__ import annotations

import numpy as np


def apply_block(state: np.ndarray, matrix: np.ndarray, positions_by_row: np.ndarray) -> np.ndarray:
    """A new state: ``matrix`` (2^k x 2^k, first row bit = ``positions_by_row[0]``) applied to the
    bit positions of ``state`` (position 0 = least significant bit, Cirq's last qubit)."""
    n = int(np.log2(state.shape[0]))
    k = len(positions_by_row)
    axes = [n - 1 - int(p) for p in positions_by_row]  # tensor axis 0 is the most significant bit
    tensor = state.reshape((2,) * n)
    gate = matrix.reshape((2,) * (2 * k))
    moved = np.tensordot(gate, tensor, axes=(list(range(k, 2 * k)), axes))
    return np.moveaxis(moved, list(range(k)), axes).reshape(-1)


def probabilities(state: np.ndarray) -> np.ndarray:
    return np.abs(state.astype(np.complex128)) ** 2
