"""Launch helpers shared by the CUDA kernels: grid sizes and device views."""

import contextlib
import math
import threading

import numpy as np

from .. import _config
from .._checks import is_numba_device_array
from .._cuda_api import cuda_module

cuda = cuda_module()

#: Cap on blocks per launch; kernels use grid-stride loops, so any grid is correct.
MAX_BLOCKS = 65535


# per thread: the stream kernels launch on (see on_stream)
_launch_streams = threading.local()


def launch_stream():
    """The stream this thread's kernels launch on: 0 (the default stream)
    unless inside :func:`on_stream`."""
    return getattr(_launch_streams, "numba", 0)


@contextlib.contextmanager
def on_stream(numba_stream, cupy_stream=None):
    """Launch this thread's kernels on ``numba_stream`` (and CuPy's cuBLAS
    calls on ``cupy_stream``, the same CUDA stream) inside the block: how a
    step is captured into a CUDA graph or replayed eagerly in stream order."""
    previous = launch_stream(), launch_stream_ptr()
    _launch_streams.numba = numba_stream
    _launch_streams.ptr = 0 if cupy_stream is None else cupy_stream.ptr
    try:
        if cupy_stream is None:
            yield
        else:
            with cupy_stream:
                yield
    finally:
        _launch_streams.numba, _launch_streams.ptr = previous


def launch_stream_ptr():
    """The CUDA handle of :func:`launch_stream` (0: the default stream), for
    library calls (cuBLAS)."""
    return getattr(_launch_streams, "ptr", 0)


def grid_1d(n):
    """(blocks, threads, stream): a launch configuration covering n elements
    with the configured block size, on this thread's launch stream."""
    threads = _config.CUDA_THREADS_PER_BLOCK
    blocks = max(1, min(MAX_BLOCKS, math.ceil(n / threads)))
    return blocks, threads, launch_stream()


def as_device(a):
    """A Numba device array for ``a`` (zero-copy for CuPy/PyTorch arrays)."""
    if a is None or is_numba_device_array(a):
        return a
    return cuda.as_cuda_array(a)


def flat(a):
    """1-D view of a C-contiguous device array."""
    return a.reshape(a.size) if len(a.shape) != 1 else a


_placeholders = {}
# per thread: two threads running kernels that reduce into one accumulator
# would add into (and read back) each other's results
_thread_accumulators = threading.local()


def placeholder(dtype, ndim=1):
    """A 1-element device array standing in for an optional argument that is
    None (kernels take a flag instead of a None-typed argument). Allocated
    once per dtype and rank: device allocations are slow, and a placeholder
    is never read or written."""
    key = (np.dtype(dtype), ndim)
    if key not in _placeholders:
        _placeholders[key] = cuda.device_array((1,) * ndim, dtype=key[0])
    return _placeholders[key]


@cuda.jit
def _zero(array):
    start, stride = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, array.size, stride):
        array[i] = 0


def accumulator(dtype, size):
    """A zeroed device array for a kernel's reduced results (a loss, a count),
    reused across calls of one thread instead of allocated each time; zeroed by a kernel
    launch, which the stream orders before the kernel that adds into it."""
    key = (np.dtype(dtype), size)
    accumulators = getattr(_thread_accumulators, "arrays", None)
    if accumulators is None:
        accumulators = _thread_accumulators.arrays = {}
    if key not in accumulators:
        accumulators[key] = cuda.device_array(size, dtype=key[0])
    acc = accumulators[key]
    _zero[1, 32, launch_stream()](acc)
    return acc
