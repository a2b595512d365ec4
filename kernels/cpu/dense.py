"""Dense (fully connected) layer, forward and backward (CPU).

Shapes: x (B, I), w (I, O), b (O,), out/dout (B, O), dx (B, I), dw (I, O),
db (O,). The matrix products go to BLAS through ``gemm.matmul`` (MKL or
OpenBLAS); ``x.T`` and ``w.T`` of C arrays are F-layout views that reach GEMM
as a transpose flag, so no transposed copy is made. Bias and activation run as
one epilogue pass over the product; the activation derivative and the bias
gradient as one prologue pass before the two backward products.
"""

import math

from .._jit import cpu_jit
from .activations import (
    ACTIVATION_CODES,
    activation_grad_inplace,
    bias_activation_inplace,
)
from .gemm import matmul
from .losses import _softmax_cross_entropy


@cpu_jit
def _dense_forward(x, w, b, out, code, slope):
    matmul(x, w, out)
    bias_activation_inplace(out, b, code, slope)


def dense_forward(x, w, b, out, activation="identity", negative_slope=0.01):
    """out = act(x @ w + b), written into ``out`` (no argument checks)."""
    _dense_forward(x, w, b, out, ACTIVATION_CODES[activation], negative_slope)


@cpu_jit
def _dense_backward(x, w, out, dout, dx, dw, db, code, slope):
    # dout becomes dL/dz (pre-activation gradient) in place; db its column sums.
    activation_grad_inplace(out, dout, db, code, slope)
    if dw is not None:  # None: a frozen layer
        matmul(x.T, dout, dw)
    if dx is not None:
        matmul(dout, w.T, dx)


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


@cpu_jit
def dense_stack_forward(x, weights, biases, outs, codes, slopes):
    """Forward of a stack of dense layers in one call: ``outs[k]`` = layer k's
    output (tuples as in ``dense_stack_cross_entropy_step``). The model's
    inference path for plain MLPs: one kernel call instead of one per layer."""
    _dense_forward(x, weights[0], biases[0], outs[0], codes[0], slopes[0])
    for k in range(1, len(weights)):
        _dense_forward(outs[k - 1], weights[k], biases[k], outs[k], codes[k], slopes[k])


@cpu_jit
def _dense_stack_backward(x, weights, outs, douts, dweights, dbiases, codes, slopes):
    """Backward of a stack of dense layers from the loss gradient in
    ``douts[-1]`` (the fused steps' shared second half): every layer's
    dW and db, and dX into ``douts`` of the layer below (none for the input)."""
    n = len(weights)
    for k in range(n - 1, 0, -1):
        _dense_backward(
            outs[k - 1],
            weights[k],
            outs[k],
            douts[k],
            douts[k - 1],
            dweights[k],
            dbiases[k],
            codes[k],
            slopes[k],
        )
    _dense_backward(
        x,
        weights[0],
        outs[0],
        douts[0],
        None,
        dweights[0],
        dbiases[0],
        codes[0],
        slopes[0],
    )


@cpu_jit
def dense_stack_cross_entropy_step(
    x,
    labels,
    weights,
    biases,
    outs,
    douts,
    dweights,
    dbiases,
    codes,
    slopes,
    sample_weight=None,
):
    """Forward, softmax cross-entropy and backward of a stack of dense layers,
    in one call (the model's fast path for plain MLP classifiers: on small
    networks the per-call overhead of separate kernel calls dominates).

    weights/biases/outs/douts/dweights/dbiases: tuples, one entry per layer;
    codes/slopes: each layer's activation code and leaky slope;
    sample_weight: as in ``softmax_cross_entropy``. Returns the
    batch-mean loss; when it is not finite, nothing is back-propagated (the
    caller stops training with the weights untouched).
    """
    n = len(weights)
    dense_stack_forward(x, weights, biases, outs, codes, slopes)
    loss = _softmax_cross_entropy(outs[n - 1], labels, douts[n - 1], sample_weight)
    if not math.isfinite(loss):
        return loss
    _dense_stack_backward(x, weights, outs, douts, dweights, dbiases, codes, slopes)
    return loss
