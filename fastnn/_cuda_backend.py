"""The GPU backend: Numba device arrays and the CUDA kernels.

The dataset is copied to the device once per ``fit``; mini-batches are
gathered there by index. Dropout noise is drawn on the host from the same
seeded generator as on the CPU (so both targets draw the same masks) and copied
into a preallocated device buffer.
"""

import numpy as np

from fastnn.kernels import cuda as cuda_kernels
from fastnn.kernels._cuda_api import cuda_module

cuda = cuda_module()


class CUDABackend:
    """Device arrays and the numba.cuda kernels."""

    name = "cuda"
    ops = cuda_kernels

    def __init__(self):
        # one host staging buffer for dropout noise, grown to the largest
        # draw: a buffer per shape would grow with every batch size seen
        self._host_noise = np.empty(0, np.float64)

    def empty(self, shape, dtype):
        return cuda.device_array(shape, dtype=np.dtype(dtype))

    def zeros(self, shape, dtype):
        return cuda.to_device(np.zeros(shape, np.dtype(dtype)))

    def to_device(self, array):
        if isinstance(array, np.ndarray):
            return cuda.to_device(np.ascontiguousarray(array))
        return array

    def to_host(self, array):
        if isinstance(array, np.ndarray):
            return array
        return array.copy_to_host()

    def copy_into(self, dst, src):
        dst.copy_to_device(
            np.ascontiguousarray(src) if isinstance(src, np.ndarray) else src
        )

    def take_rows(self, source, indices, out):
        if len(out.shape) == 1:  # labels: gather them as one-column rows
            source = source.reshape((source.shape[0], 1))
            out = out.reshape((out.shape[0], 1))
        cuda_kernels.gather.gather_rows(source, indices, out, 1)

    def gather_inputs(self, source, indices, out, scale):
        cuda_kernels.gather.gather_rows(source, indices, out, scale)

    def convert_inputs(self, source, out, scale):
        if isinstance(source, np.ndarray):  # the product as the CPU computes it
            dtype = np.dtype(out.dtype)
            host = np.multiply(source, dtype.type(scale), dtype=dtype)
            out.copy_to_device(np.ascontiguousarray(host))
        else:
            cuda_kernels.gather.convert_rows(source, out, scale)

    def fill_uniform(self, rng, out):
        dtype = np.dtype(out.dtype)
        nbytes = out.size * dtype.itemsize
        if self._host_noise.nbytes < nbytes:
            self._host_noise = np.empty(-(-nbytes // 8), np.float64)
        host = self._host_noise.view(np.uint8)[:nbytes].view(dtype).reshape(out.shape)
        rng.random(out=host, dtype=dtype)
        out.copy_to_device(host)

    def synchronize(self):
        # the default stream, not the device: a device synchronisation
        # fails while another thread captures a CUDA graph
        cuda.default_stream().synchronize()
