"""Dense (fully connected) layer, forward and backward (CPU).

Shapes: x (B, I), w (I, O), b (O,), out/dout (B, O), dx (B, I), dw (I, O),
db (O,). The matrix products go to BLAS through ``np.dot(..., out)``; ``x.T``
and ``w.T`` of C arrays are F-layout views that Numba hands to GEMM with a
transpose flag, so no transposed copy is made. Bias and activation run as one
epilogue pass over the product; the activation derivative and the bias
gradient as one prologue pass before the two backward products.
"""

import numpy as np

from .._jit import cpu_jit
from .activations import (
    ACTIVATION_CODES,
    activation_grad_inplace,
    bias_activation_inplace,
)


@cpu_jit
def _dense_forward(x, w, b, out, code, slope):
    np.dot(x, w, out)
    bias_activation_inplace(out, b, code, slope)


def dense_forward(x, w, b, out, activation="identity", negative_slope=0.01):
    """out = act(x @ w + b), written into ``out`` (no argument checks)."""
    _dense_forward(x, w, b, out, ACTIVATION_CODES[activation], negative_slope)


@cpu_jit
def _dense_backward(x, w, out, dout, dx, dw, db, code, slope):
    # dout becomes dL/dz (pre-activation gradient) in place; db its column sums.
    activation_grad_inplace(out, dout, db, code, slope)
    np.dot(x.T, dout, dw)
    if dx is not None:
        np.dot(dout, w.T, dx)


def dense_backward(
    x, w, out, dout, dx, dw, db, activation="identity", negative_slope=0.01
):
    """Gradients of a dense layer from its forward input/output (no checks).

    Needs from the forward: its input ``x`` and its post-activation output
    ``out``. Overwrites ``dout`` with the pre-activation gradient.
    """
    _dense_backward(
        x, w, out, dout, dx, dw, db, ACTIVATION_CODES[activation], negative_slope
    )
