"""CuPy path: the same fused-block application as a CUDA kernel, chosen when a GPU is present."""

from __future__ import annotations

import functools

import numpy as np

_SOURCE = r"""
#include <cuComplex.h>
extern "C" __global__ void apply_block(T* state, const T* mat, const long long* offsets,
                                       const long long* positions, int k, long long groups) {
    long long g = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (g >= groups) return;
    long long base = g;
    for (int i = 0; i < k; ++i) {
        long long p = positions[i];
        base = ((base >> p) << (p + 1)) | (base & ((1LL << p) - 1));
    }
    int dim = 1 << k;
    T in[16];
    for (int m = 0; m < dim; ++m) in[m] = state[base + offsets[m]];
    for (int m = 0; m < dim; ++m) {
        T acc = MAKE(0, 0);
        for (int c = 0; c < dim; ++c) acc = ADD(acc, MUL(mat[m * dim + c], in[c]));
        state[base + offsets[m]] = acc;
    }
}
"""


def available() -> bool:
    """A usable GPU: CuPy installed and ``cupy.is_available()`` (importing alone proves nothing)."""
    try:
        import cupy
    except ImportError:
        return False
    try:
        return bool(cupy.is_available())
    except Exception:  # noqa: BLE001 - a broken CUDA install counts as no GPU
        return False


@functools.cache
def _kernel(double: bool):
    import cupy

    names = ("cuDoubleComplex", "make_cuDoubleComplex", "cuCadd", "cuCmul") if double else \
            ("cuFloatComplex", "make_cuFloatComplex", "cuCaddf", "cuCmulf")
    source = (f"#define T {names[0]}\n#define MAKE {names[1]}\n#define ADD {names[2]}\n#define MUL {names[3]}\n"
              + _SOURCE)
    return cupy.RawKernel(source, "apply_block")


def apply_blocks(state, blocks, n: int) -> None:
    """Apply fused blocks (at most 4 qubits each) to a CuPy state vector in place."""
    import cupy

    from .kernels import block_layout

    kernel = _kernel(state.dtype == np.complex128)
    for block in blocks:
        if len(block.qubits) > 4:
            raise ValueError("the GPU kernel takes blocks of at most 4 qubits")
        offsets, positions = block_layout(np.array([n - 1 - q for q in block.qubits]))
        groups = state.size >> len(block.qubits)
        threads = 256
        kernel(((groups + threads - 1) // threads,), (threads,),
               (state, cupy.asarray(block.matrix, dtype=state.dtype), cupy.asarray(offsets),
                cupy.asarray(positions), np.int32(len(block.qubits)), np.int64(groups)))
