"""Reading input rows into the model's dtype (CUDA), as ``kernels/cpu/gather``:
``out = source * scale`` with ``scale`` already of out's dtype, grid-stride over
out. (The product of a float32 and an integer up to 2**24 is exact in float64,
so it rounds to what the CPU's float32 product gives.)"""

import numpy as np
from numba import cuda

from ._launch import as_device, grid_1d


@cuda.jit
def _gather(source, indices, out, scale):
    rows, width = out.shape
    start, stride = cuda.grid(1), cuda.gridsize(1)
    for idx in range(start, rows * width, stride):
        k, j = idx // width, idx % width
        out[k, j] = source[indices[k], j] * scale


@cuda.jit
def _convert(source, out, scale):
    rows, width = out.shape
    start, stride = cuda.grid(1), cuda.gridsize(1)
    for idx in range(start, rows * width, stride):
        k, j = idx // width, idx % width
        out[k, j] = source[k, j] * scale


def gather_rows(source, indices, out, scale):
    """out[k, :] = source[indices[k], :] * scale on the GPU (no checks)."""
    source, indices, out = as_device(source), as_device(indices), as_device(out)
    scale = np.dtype(out.dtype).type(scale)
    _gather[grid_1d(out.size)](source, indices, out, scale)


def convert_rows(source, out, scale):
    """out = source * scale into out's dtype on the GPU (no checks)."""
    source, out = as_device(source), as_device(out)
    _convert[grid_1d(out.size)](source, out, np.dtype(out.dtype).type(scale))
