"""Dense layer forward and backward (CUDA): the three products of a dense
layer (x @ w, dout @ w.T, x.T @ dout) read transposed operands in place; the
forward epilogue (bias + activation) is fused into the tiled GEMM.

Backward prologue (activation derivative, bias gradient): with cuBLAS, an
elementwise kernel over every element and the bias gradient as a product
with a row of ones (parallel over the whole batch, deterministic); with the
tiled GEMM, one kernel with a thread per column (summing its rows serially,
which leaves most of a large GPU idle: measured 4096-wide layers at b4096).
"""

import threading

import numpy as np

from .._scalar import ACTIVATION_CODES, IDENTITY
from ._launch import as_device, flat, grid_1d, placeholder
from .activations import _elementwise_backward, activation_grad_bias_kernel
from .gemm import cublas_available, matmul

_ones = {}
_ones_lock = threading.Lock()


def ones_row(rows, dtype):
    """A cached (1, rows) device row of ones (read only)."""
    key = (rows, np.dtype(dtype))
    row = _ones.get(key)
    if row is None:
        from .._cuda_api import cuda_module

        with _ones_lock:
            row = _ones.get(key)
            if row is None:
                row = _ones[key] = cuda_module().to_device(np.ones((1, rows), dtype))
    return row


def dense_forward(x, w, b, out, activation="identity", negative_slope=0.01):
    """out = act(x @ w + b) on the GPU (no argument checks)."""
    x, w, b, out = (as_device(a) for a in (x, w, b, out))
    matmul(x, w, out, bias=b, code=ACTIVATION_CODES[activation], slope=negative_slope)


def dense_backward(
    x, w, out, dout, dx, dw, db, activation="identity", negative_slope=0.01
):
    """Dense gradients on the GPU; overwrites ``dout`` (no argument checks)."""
    x, w, out, dout, dx, dw, db = (as_device(a) for a in (x, w, out, dout, dx, dw, db))
    code = ACTIVATION_CODES[activation]
    if cublas_available():
        if code != IDENTITY:  # dout *= act'(out), in place
            d = flat(dout)
            _elementwise_backward[grid_1d(d.size)](
                flat(out), d, d, code, negative_slope
            )
        if db is not None:  # db = ones(1, B) @ dout
            matmul(ones_row(out.shape[0], out.dtype), dout, db.reshape((1, db.size)))
    else:
        has_db = db is not None
        activation_grad_bias_kernel[grid_1d(out.shape[1])](
            out,
            dout,
            db if has_db else placeholder(out.dtype),
            has_db,
            code,
            negative_slope,
        )
    if dw is not None:  # None: a frozen layer
        matmul(x, dout, dw, trans_a=True)
    if dx is not None:
        matmul(dout, w, dx, trans_b=True)
