"""Dense layer forward and backward (CUDA): the three products of a dense
layer (x @ w, dout @ w.T, x.T @ dout) read transposed operands in place; the
forward epilogue (bias + activation) is fused into the tiled GEMM, and the
backward prologue (activation derivative + bias gradient) is one kernel."""

from .._scalar import ACTIVATION_CODES
from ._launch import as_device, grid_1d, placeholder
from .activations import activation_grad_bias_kernel
from .gemm import matmul


def dense_forward(x, w, b, out, activation="identity", negative_slope=0.01):
    """out = act(x @ w + b) on the GPU (no argument checks)."""
    x, w, b, out = (as_device(a) for a in (x, w, b, out))
    matmul(x, w, out, bias=b, code=ACTIVATION_CODES[activation], slope=negative_slope)


def dense_backward(
    x, w, out, dout, dx, dw, db, activation="identity", negative_slope=0.01
):
    """Dense gradients on the GPU; overwrites ``dout`` (no argument checks)."""
    x, w, out, dout, dx, dw, db = (as_device(a) for a in (x, w, out, dout, dx, dw, db))
    has_db = db is not None
    activation_grad_bias_kernel[grid_1d(out.shape[1])](
        out,
        dout,
        db if has_db else placeholder(out.dtype),
        has_db,
        ACTIVATION_CODES[activation],
        negative_slope,
    )
    matmul(x, dout, dw, trans_a=True)
    if dx is not None:
        matmul(dout, w, dx, trans_b=True)
