"""Matrix products on the GPU: a tiled shared-memory GEMM in numba.cuda, and
cuBLAS through CuPy when CuPy is installed (chosen automatically).

``matmul(a, b, c, trans_a, trans_b)`` computes c (M, N) = op(a) @ op(b) with
op(m) = m.T when its flag is set, reading transposed operands in place (no
transposed copy), optionally followed by the dense epilogue act(c + bias).
"""

import math

import numpy as np

from .. import _config
from .._cuda_api import cuda_module
from . import _cublas
from ._launch import grid_1d, launch_stream, launch_stream_ptr, placeholder
from .activations import activate, bias_activation_kernel

cuda = cuda_module()


TILE = _config.CUDA_GEMM_TILE
MAX_TILE_BLOCKS = 65535


def _make_tiled_gemm(dtype):
    """The tiled kernel for one dtype (shared arrays need a fixed type)."""

    @cuda.jit
    def gemm(a, b, c, trans_a, trans_b, bias, has_bias, code, slope):
        m, n = c.shape
        k_dim = a.shape[0] if trans_a else a.shape[1]
        # two shared tiles, declared on separate lines (the simulator aliases
        # shared arrays declared on one line)
        tile_a = cuda.shared.array(shape=(TILE, TILE), dtype=dtype)
        tile_b = cuda.shared.array(shape=(TILE, TILE), dtype=dtype)
        tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
        tiles_m = (m + TILE - 1) // TILE
        tiles_n = (n + TILE - 1) // TILE
        # block-stride loops over output tiles: correct for any grid size
        for block_row in range(cuda.blockIdx.y, tiles_m, cuda.gridDim.y):
            for block_col in range(cuda.blockIdx.x, tiles_n, cuda.gridDim.x):
                row = block_row * TILE + ty
                col = block_col * TILE + tx
                acc = 0.0
                for t in range((k_dim + TILE - 1) // TILE):
                    k = t * TILE + tx
                    if row < m and k < k_dim:
                        tile_a[ty, tx] = a[k, row] if trans_a else a[row, k]
                    else:
                        tile_a[ty, tx] = 0
                    k = t * TILE + ty
                    if k < k_dim and col < n:
                        tile_b[ty, tx] = b[col, k] if trans_b else b[k, col]
                    else:
                        tile_b[ty, tx] = 0
                    cuda.syncthreads()
                    for kk in range(TILE):
                        acc += tile_a[ty, kk] * tile_b[kk, tx]
                    cuda.syncthreads()
                if row < m and col < n:
                    if has_bias:
                        acc += bias[col]
                    c[row, col] = activate(acc, code, slope)

    return gemm


_TILED = {
    # NumPy scalar types, which both numba-cuda and numba-cuda-mlir type
    # (the latter cannot type a captured classic ``numba.float32``)
    np.dtype(np.float32): _make_tiled_gemm(np.float32),
    np.dtype(np.float64): _make_tiled_gemm(np.float64),
}


def tiled_matmul(a, b, c, trans_a=False, trans_b=False, bias=None, code=0, slope=0.0):
    """c = act(op(a) @ op(b) + bias) with the numba.cuda tiled kernel (one launch)."""
    m, n = c.shape
    grid = (
        min(MAX_TILE_BLOCKS, math.ceil(n / TILE)),
        min(MAX_TILE_BLOCKS, math.ceil(m / TILE)),
    )
    has_bias = bias is not None
    bias_arg = bias if has_bias else placeholder(c.dtype)
    _TILED[np.dtype(c.dtype)][grid, (TILE, TILE), launch_stream()](
        a, b, c, trans_a, trans_b, bias_arg, has_bias, code, slope
    )


def _cupy():
    """The cupy module when the cuBLAS path is usable, else None."""
    from numba import config

    if _config.CUDA_GEMM_BACKEND == "numba" or config.ENABLE_CUDASIM:
        return None
    try:
        import cupy
    except ImportError:
        return None
    return cupy


def cublas_matmul(a, b, c, trans_a=False, trans_b=False, bias=None, code=0, slope=0.0):
    """The same with cuBLAS (through CuPy's bindings, on the launch stream;
    capturable in a CUDA graph) plus one epilogue launch."""
    _cublas.gemm(a, b, c, trans_a, trans_b, launch_stream_ptr())
    if bias is not None or code != 0:
        has_bias = bias is not None
        bias_arg = bias if has_bias else placeholder(c.dtype)
        bias_activation_kernel[grid_1d(c.size)](c, bias_arg, has_bias, code, slope)


def cublas_available():
    """Whether matrix products go through cuBLAS (CuPy installed, not the
    simulator, not ``FASTNN_CUDA_GEMM=numba``)."""
    return _cupy() is not None


def matmul(a, b, c, trans_a=False, trans_b=False, bias=None, code=0, slope=0.0):
    """cuBLAS when CuPy is available (faster), else the tiled kernel."""
    if cublas_available():
        cublas_matmul(a, b, c, trans_a, trans_b, bias, code, slope)
    else:
        tiled_matmul(a, b, c, trans_a, trans_b, bias, code, slope)
