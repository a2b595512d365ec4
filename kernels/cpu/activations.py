"""Elementwise activations and row-wise softmax (CPU).

Each activation is defined twice, side by side: its value, and its derivative
written in terms of the *output* y = act(z), so a layer never has to keep the
pre-activation z for backprop:

=========== ======================== ====================================
name        y = act(z)               dy/dz from y
=========== ======================== ====================================
identity    z                        1
relu        max(z, 0)                1 if y > 0 else 0
leaky_relu  z if z > 0 else a*z      1 if y > 0 else a   (needs a >= 0)
sigmoid     1 / (1 + exp(-z))        y * (1 - y)
tanh        tanh(z)                  1 - y**2
=========== ======================== ====================================

At z == 0, relu's and leaky_relu's derivatives are those of torch (0 and a).
"""

import math

from .. import _scalar
from .._jit import cpu_jit
from .._scalar import (  # noqa: F401 - re-exported for the CUDA target and callers
    ACTIVATION_CODES,
    IDENTITY,
    LEAKY_RELU,
    RELU,
    SIGMOID,
    TANH,
)

activate = cpu_jit(_scalar.activate)
activate_grad = cpu_jit(_scalar.activate_grad)


@cpu_jit
def bias_activation_inplace(out, b, code, slope):
    """out[i, j] = act(out[i, j] + b[j]) in place; ``b`` may be None. out (B, O)."""
    rows, cols = out.shape
    slope = out.dtype.type(slope)
    for i in range(rows):
        for j in range(cols):
            if b is None:
                z = out[i, j]
            else:
                z = out[i, j] + b[j]
            out[i, j] = activate(z, code, slope)


@cpu_jit
def activation_grad_inplace(out, dout, db, code, slope):
    """dout *= act'(from out) in place, and db = column sums of the result.

    One pass over each row for both, the "fused activation backward + bias
    gradient" of a dense layer. out, dout (B, O); db (O,) or None. The loops
    are split per activation and kept in the array dtype so they vectorise.
    """
    rows, cols = out.shape
    zero = out.dtype.type(0)
    one = out.dtype.type(1)
    slope = out.dtype.type(slope)
    if db is not None:
        db[:] = 0
    for i in range(rows):
        if code == RELU:
            for j in range(cols):
                g, y = dout[i, j], out[i, j]
                dout[i, j] = g if y > zero else zero
        elif code == LEAKY_RELU:
            for j in range(cols):
                g, y = dout[i, j], out[i, j]
                dout[i, j] = g if y > zero else g * slope
        elif code == SIGMOID:
            for j in range(cols):
                y = out[i, j]
                dout[i, j] = dout[i, j] * (y * (one - y))
        elif code == TANH:
            for j in range(cols):
                y = out[i, j]
                dout[i, j] = dout[i, j] * (one - y * y)
        if db is not None:
            for j in range(cols):
                db[j] += dout[i, j]


@cpu_jit
def _activation_forward(x, out, code, slope):
    flat_x = x.reshape(x.size)
    flat_out = out.reshape(out.size)
    slope = out.dtype.type(slope)
    for i in range(flat_x.size):
        flat_out[i] = activate(flat_x[i], code, slope)


@cpu_jit
def _activation_backward(out, dout, dx, code, slope):
    flat_y = out.reshape(out.size)
    flat_dy = dout.reshape(dout.size)
    flat_dx = dx.reshape(dx.size)
    slope = out.dtype.type(slope)
    for i in range(flat_y.size):
        flat_dx[i] = flat_dy[i] * activate_grad(flat_y[i], code, slope)


def activation_forward(name, x, out, negative_slope=0.01):
    """out = act(x), elementwise, any shape (no argument checks)."""
    _activation_forward(x, out, ACTIVATION_CODES[name], negative_slope)


def activation_backward(name, out, dout, dx, negative_slope=0.01):
    """dx = dout * act'(x), taken from the forward output ``out``."""
    _activation_backward(out, dout, dx, ACTIVATION_CODES[name], negative_slope)


@cpu_jit
def _softmax_rows(x, out, log):
    rows, cols = x.shape
    for i in range(rows):
        m = x[i, 0]
        for j in range(1, cols):
            if x[i, j] > m:
                m = x[i, j]
        total = 0.0  # float64 accumulator whatever the dtype
        for j in range(cols):
            e = math.exp(x[i, j] - m)
            total += e
            if not log:
                out[i, j] = e
        if log:
            log_total = math.log(total)
            for j in range(cols):
                out[i, j] = x[i, j] - m - log_total
        else:
            inv = 1.0 / total
            for j in range(cols):
                out[i, j] = out[i, j] * inv


def softmax(x, out):
    """out = softmax(x) row-wise, stable (the row max is subtracted). x, out (B, C)."""
    _softmax_rows(x, out, False)


def log_softmax(x, out):
    """out = log_softmax(x) row-wise, stable. x, out (B, C)."""
    _softmax_rows(x, out, True)


@cpu_jit
def _softmax_backward(out, dout, dx):
    rows, cols = out.shape
    for i in range(rows):
        dot = 0.0
        for j in range(cols):
            dot += dout[i, j] * out[i, j]
        for j in range(cols):
            dx[i, j] = out[i, j] * (dout[i, j] - dot)


def softmax_backward(out, dout, dx):
    """dx = y * (dout - sum(dout * y)) row-wise, from the softmax output ``out``."""
    _softmax_backward(out, dout, dx)
