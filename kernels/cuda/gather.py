"""Reading input rows into the model's dtype (CUDA), as ``kernels/cpu/gather``:
each value is first stored in out's dtype, then multiplied by ``scale`` (of
out's dtype) there, so the rounding is the CPU's: narrow, then scale."""

import numpy as np

from .._cuda_api import cuda_module
from ._launch import as_device, grid_1d

cuda = cuda_module()


@cuda.jit
def _gather(source, indices, out, scale, bytes_in):
    rows, width = out.shape
    start, stride = cuda.grid(1), cuda.gridsize(1)
    for idx in range(start, rows * width, stride):
        k, j = idx // width, idx % width
        if bytes_in:  # see is_bytes
            out[k, j] = int(source[indices[k], j]) & 0xFF
        else:
            out[k, j] = source[indices[k], j]  # narrowed by the store
        out[k, j] = out[k, j] * scale


@cuda.jit
def _convert(source, out, scale, bytes_in):
    rows, width = out.shape
    start, stride = cuda.grid(1), cuda.gridsize(1)
    for idx in range(start, rows * width, stride):
        k, j = idx // width, idx % width
        if bytes_in:
            out[k, j] = int(source[k, j]) & 0xFF
        else:
            out[k, j] = source[k, j]
        out[k, j] = out[k, j] * scale


def is_bytes(source):
    """Whether ``source`` holds uint8: numba-cuda-mlir 0.6 widens uint8
    elements as if signed (200 reads as -56), so the kernels mask the widened
    value to its low byte, which is exact under either compiler."""
    return np.dtype(source.dtype) == np.uint8


def gather_rows(source, indices, out, scale):
    """out[k, :] = source[indices[k], :] * scale on the GPU (no checks)."""
    source, indices, out = as_device(source), as_device(indices), as_device(out)
    scale = np.dtype(out.dtype).type(scale)
    _gather[grid_1d(out.size)](source, indices, out, scale, is_bytes(source))


def convert_rows(source, out, scale):
    """out = source * scale into out's dtype on the GPU (no checks)."""
    source, out = as_device(source), as_device(out)
    scale = np.dtype(out.dtype).type(scale)
    _convert[grid_1d(out.size)](source, out, scale, is_bytes(source))
