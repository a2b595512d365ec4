"""Launch helpers shared by the CUDA kernels: grid sizes and device views."""

import math

import numpy as np
from numba import cuda

from .. import _config
from .._checks import is_numba_device_array

#: Cap on blocks per launch; kernels use grid-stride loops, so any grid is correct.
MAX_BLOCKS = 65535


def grid_1d(n):
    """(blocks, threads) covering n elements with the configured block size."""
    threads = _config.CUDA_THREADS_PER_BLOCK
    return max(1, min(MAX_BLOCKS, math.ceil(n / threads))), threads


def as_device(a):
    """A Numba device array for ``a`` (zero-copy for CuPy/PyTorch arrays)."""
    if a is None or is_numba_device_array(a):
        return a
    return cuda.as_cuda_array(a)


def flat(a):
    """1-D view of a C-contiguous device array."""
    return a.reshape(a.size) if len(a.shape) != 1 else a


def placeholder(dtype):
    """A 1-element device array standing in for an optional argument that is
    None (kernels take a flag instead of a None-typed argument)."""
    return cuda.device_array(1, dtype=np.dtype(dtype))


def scalar_from_device(array):
    """Copy a small device array back (the one host transfer of a loss call)."""
    return array.copy_to_host()
