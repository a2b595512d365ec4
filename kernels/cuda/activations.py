"""Elementwise activations and row-wise softmax (CUDA). Same functions and
semantics as ``kernels/cpu/activations.py``; derivatives are read from the
output y = act(z) (see the table there)."""

import math

from .. import _scalar
from .._cuda_api import cuda_module
from .._scalar import ACTIVATION_CODES, IDENTITY
from ._launch import as_device, flat, grid_1d

cuda = cuda_module()

activate = cuda.jit(device=True)(_scalar.activate)
activate_grad = cuda.jit(device=True)(_scalar.activate_grad)


@cuda.jit
def bias_activation_kernel(out, b, has_bias, code, slope):
    """out[i, j] = act(out[i, j] + b[j]) in place; grid-stride over elements."""
    rows, cols = out.shape
    start, stride = cuda.grid(1), cuda.gridsize(1)
    for idx in range(start, rows * cols, stride):
        i, j = idx // cols, idx % cols
        z = out[i, j]
        if has_bias:
            z += b[j]
        out[i, j] = activate(z, code, slope)


@cuda.jit
def activation_grad_bias_kernel(out, dout, db, has_db, code, slope):
    """dout *= act'(out) and db = column sums of it: one thread per column
    (adjacent threads read adjacent columns, so loads coalesce)."""
    rows, cols = out.shape
    start, stride = cuda.grid(1), cuda.gridsize(1)
    for j in range(start, cols, stride):
        total = 0.0
        for i in range(rows):
            g = dout[i, j]
            if code != IDENTITY:
                g = g * activate_grad(out[i, j], code, slope)
                dout[i, j] = g
            total += g
        if has_db:
            db[j] = total


@cuda.jit
def _elementwise_forward(x, out, code, slope):
    start, stride = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, x.size, stride):
        out[i] = activate(x[i], code, slope)


@cuda.jit
def _elementwise_backward(y, dy, dx, code, slope):
    start, stride = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, y.size, stride):
        dx[i] = dy[i] * activate_grad(y[i], code, slope)


def activation_forward(name, x, out, negative_slope=0.01):
    """out = act(x), elementwise (no argument checks)."""
    x, out = flat(as_device(x)), flat(as_device(out))
    _elementwise_forward[grid_1d(x.size)](
        x, out, ACTIVATION_CODES[name], negative_slope
    )


def activation_backward(name, out, dout, dx, negative_slope=0.01):
    """dx = dout * act'(from out), elementwise (no argument checks)."""
    out, dout, dx = (flat(as_device(a)) for a in (out, dout, dx))
    _elementwise_backward[grid_1d(out.size)](
        out, dout, dx, ACTIVATION_CODES[name], negative_slope
    )


@cuda.jit
def _softmax_rows(x, out, log):
    rows, cols = x.shape
    start, stride = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, rows, stride):
        m = x[i, 0]
        for j in range(1, cols):
            m = max(m, x[i, j])
        total = 0.0
        for j in range(cols):
            total += math.exp(x[i, j] - m)
        if log:
            log_total = math.log(total)
            for j in range(cols):
                out[i, j] = x[i, j] - m - log_total
        else:
            for j in range(cols):
                out[i, j] = math.exp(x[i, j] - m) / total


def softmax(x, out):
    """Row-wise softmax (one thread per row; no argument checks)."""
    x, out = as_device(x), as_device(out)
    _softmax_rows[grid_1d(x.shape[0])](x, out, False)


def log_softmax(x, out):
    """Row-wise log-softmax (one thread per row; no argument checks)."""
    x, out = as_device(x), as_device(out)
    _softmax_rows[grid_1d(x.shape[0])](x, out, True)


@cuda.jit
def _softmax_backward(y, dy, dx):
    rows, cols = y.shape
    start, stride = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, rows, stride):
        dot = 0.0
        for j in range(cols):
            dot += dy[i, j] * y[i, j]
        for j in range(cols):
            dx[i, j] = y[i, j] * (dy[i, j] - dot)


def softmax_backward(out, dout, dx):
    """dx = y * (dout - sum(dout * y)) row-wise, y = ``out`` (no argument checks)."""
    out, dout, dx = as_device(out), as_device(dout), as_device(dx)
    _softmax_backward[grid_1d(out.shape[0])](out, dout, dx)
