"""Where a model's arrays live: the host (NumPy + CPU kernels) or a GPU.

A backend allocates buffers, moves arrays between host and device, gathers
mini-batch rows, and names the kernel module (``ops``) that layers call.
The target is chosen once per model (``device=``), never per call.
"""

import numpy as np

from fastnn import kernels
from fastnn.kernels import cpu as cpu_kernels
from fastnn.kernels.cpu.gather import convert_rows, gather_rows

DEVICES = ("cpu", "cuda")


class CPUBackend:
    """NumPy arrays and the Numba CPU kernels."""

    name = "cpu"
    ops = cpu_kernels

    def empty(self, shape, dtype):
        return np.empty(shape, dtype)

    def zeros(self, shape, dtype):
        return np.zeros(shape, dtype)

    def to_device(self, array):
        return np.ascontiguousarray(array)

    def to_host(self, array):
        return np.asarray(array)

    def copy_into(self, dst, src):
        np.copyto(dst, src)

    def take_rows(self, source, indices, out):
        """out[k] = source[indices[k]]; mode='clip' writes straight into out."""
        np.take(source, indices, axis=0, out=out, mode="clip")

    def gather_inputs(self, source, indices, out, scale):
        """Input rows by index into the model's dtype, times ``scale``."""
        if source.dtype == out.dtype and scale == 1.0:
            self.take_rows(source, indices, out)
        else:
            gather_rows(source, indices, out, scale)

    def convert_inputs(self, source, out, scale):
        """Input rows (any real dtype) into the model's dtype, times ``scale``."""
        convert_rows(source, out, scale)

    def fill_uniform(self, rng, out):
        """Fill ``out`` with uniform [0, 1) noise from a NumPy Generator."""
        rng.random(out=out, dtype=out.dtype)

    def synchronize(self):
        pass


def get_backend(device):
    """The backend for ``"cpu"`` or ``"cuda"``; a clear error if unusable."""
    if device == "cpu":
        return CPUBackend()
    if device == "cuda":
        reason = kernels.cuda_unavailable_reason()
        if reason is not None:
            raise RuntimeError(f"device='cuda' is unavailable: {reason}")
        from fastnn._cuda_backend import CUDABackend

        return CUDABackend()
    raise ValueError(f"device: expected one of {DEVICES}, got {device!r}")
