"""Numba kernels: apply one fused block (a dense 2^k x 2^k matrix) to a state vector in place.

The state is indexed as Cirq indexes it: the first qubit is the most significant bit. A block acts
on ``k`` bit positions; the ``2^k`` amplitudes it mixes sit at ``base + offsets[m]``. The work is
cut into tiles of ``TILE`` bases whose amplitudes are copied into per-thread lanes, multiplied by
the block's matrix with the innermost loop over the lanes (which LLVM vectorizes: the same idea
as qsim's SIMD lanes), and written back. One pass over the state per block; the only extra memory
is a per-thread tile of ``2^k * TILE`` numbers.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange

TILE = 16  # amplitudes per vectorized run: 2 AVX2 registers of complex64 parts


@numba.njit(cache=True, inline="always")
def _insert_zero_bits(index, positions):
    # Spread ``index`` over the bits not in ``positions`` (ascending), leaving those bits zero.
    for p in positions:
        low = index & ((1 << p) - 1)
        index = ((index >> p) << (p + 1)) | low
    return index


@numba.njit(parallel=True, fastmath=True, cache=True, nogil=True)
def apply_block(state, mat_re, mat_im, offsets, positions, chunks):
    """``state[base + offsets] = mat @ state[base + offsets]`` for every base, in place.

    mat_re/mat_im: the block's matrix split into real and imaginary parts (the state's precision).
    offsets: int64[2^k], the offset of each matrix row's amplitude. positions: the target bit
    positions, ascending. chunks: how many parallel pieces to cut the work into.
    Needs ``state.size >= TILE * 2^k`` (smaller states go through the NumPy reference).

    Each tile holds TILE consecutive bases: contiguous amplitudes when no target bit is below
    bit 4, else gathered one by one. Either way the multiply runs over the TILE lanes, which
    LLVM turns into SIMD instructions, and each loaded lane feeds two output rows (a block has
    at least 2 rows).
    """
    dim = offsets.shape[0]
    tiles = state.shape[0] // (dim * TILE)
    per_chunk = (tiles + chunks - 1) // chunks
    contiguous = (1 << positions[0]) >= TILE
    for chunk in prange(chunks):
        lanes = np.empty((2 * dim, TILE), dtype=mat_re.dtype)
        acc = np.empty((4, TILE), dtype=mat_re.dtype)
        bases = np.empty(TILE, dtype=np.int64)
        first = chunk * per_chunk
        last = min(tiles, first + per_chunk)
        for t in range(first, last):
            if contiguous:
                base = _insert_zero_bits(t * TILE, positions)
                for j in range(TILE):
                    bases[j] = base + j
            else:
                for j in range(TILE):
                    bases[j] = _insert_zero_bits(t * TILE + j, positions)
            for m in range(dim):
                offset = offsets[m]
                for j in range(TILE):
                    value = state[bases[j] + offset]
                    lanes[2 * m, j] = value.real
                    lanes[2 * m + 1, j] = value.imag
            for m in range(0, dim, 2):  # two output rows share each loaded lane: half the loads
                for j in range(TILE):
                    for r in range(4):
                        acc[r, j] = 0.0
                for col in range(dim):
                    a = mat_re[m, col]
                    b = mat_im[m, col]
                    c = mat_re[m + 1, col]
                    d = mat_im[m + 1, col]
                    for j in range(TILE):
                        x = lanes[2 * col, j]
                        y = lanes[2 * col + 1, j]
                        acc[0, j] += a * x - b * y
                        acc[1, j] += a * y + b * x
                        acc[2, j] += c * x - d * y
                        acc[3, j] += c * y + d * x
                o0 = offsets[m]
                o1 = offsets[m + 1]
                for j in range(TILE):
                    state[bases[j] + o0] = acc[0, j] + 1j * acc[1, j]
                    state[bases[j] + o1] = acc[2, j] + 1j * acc[3, j]


@numba.njit(parallel=True, fastmath=True, cache=True, nogil=True)
def probabilities(state, out):
    """|amplitude|^2 of every basis state, into ``out`` (float64, for exact sampling sums)."""
    for i in prange(state.shape[0]):
        value = state[i]
        out[i] = value.real * value.real + value.imag * value.imag


def block_layout(positions_desc_by_row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Offsets and ascending positions for a block whose matrix row bit ``k-1-j``
    belongs to bit position ``positions_desc_by_row[j]`` (the block's first qubit is the
    matrix's most significant bit, as in ``cirq.unitary``)."""
    k = len(positions_desc_by_row)
    offsets = np.zeros(1 << k, dtype=np.int64)
    for m in range(1 << k):
        offset = 0
        for j, p in enumerate(positions_desc_by_row):
            if (m >> (k - 1 - j)) & 1:
                offset |= 1 << int(p)
        offsets[m] = offset
    return offsets, np.sort(np.asarray(positions_desc_by_row, dtype=np.int64))
