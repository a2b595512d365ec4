"""Inverted dropout from caller-supplied uniform noise (CUDA); see the CPU module."""

from .._cuda_api import cuda_module
from ._launch import as_device, flat, grid_1d

cuda = cuda_module()


@cuda.jit
def _dropout(values, u, out, p):
    scale = 1.0 / (1.0 - p)
    start, stride = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, values.size, stride):
        out[i] = values[i] * scale if u[i] >= p else 0.0


def dropout_forward(x, u, out, p):
    """out = x * (u >= p) / (1 - p) (no argument checks)."""
    x, u, out = (flat(as_device(a)) for a in (x, u, out))
    _dropout[grid_1d(x.size)](x, u, out, p)


def dropout_backward(u, dout, dx, p):
    """dx = dout * (u >= p) / (1 - p) (no argument checks)."""
    u, dout, dx = (flat(as_device(a)) for a in (u, dout, dx))
    _dropout[grid_1d(u.size)](dout, u, dx, p)
