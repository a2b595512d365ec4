"""Losses (CUDA): one kernel computes per-row terms and gradients and reduces
the loss on the device (atomics into a float64 accumulator); one small array
comes back to the host per call, holding the loss and an error count."""

import math

import numpy as np

from .._cuda_api import cuda_module
from .._scalar import SIGMOID
from ._launch import accumulator, as_device, flat, grid_1d, placeholder
from .activations import activate

cuda = cuda_module()


@cuda.jit
def _softmax_cross_entropy(logits, labels, dlogits, has_grad, weights, weighted, acc):
    rows, cols = logits.shape
    start, stride = cuda.grid(1), cuda.gridsize(1)
    local = 0.0
    for i in range(start, rows, stride):
        weight = weights[i] if weighted else 1.0
        inv_rows = (1.0 / rows) * weight
        label = labels[i]
        if label < 0 or label >= cols:
            cuda.atomic.add(acc, 1, 1.0)  # reported as ValueError on the host
            continue
        m = logits[i, 0]
        for j in range(1, cols):
            m = max(m, logits[i, j])
        total = 0.0
        for j in range(cols):
            total += math.exp(logits[i, j] - m)
        local += (m + math.log(total) - logits[i, label]) * weight
        if has_grad:
            scale = inv_rows / total
            for j in range(cols):
                dlogits[i, j] = math.exp(logits[i, j] - m) * scale
            dlogits[i, label] -= inv_rows
    cuda.atomic.add(acc, 0, local)


def _finish(acc, denominator, what):
    host = acc.copy_to_host()
    if host[1]:
        raise ValueError(f"{what}: a value is outside [0, n_classes)")
    return float(host[0] / denominator)


def _weights_arg(sample_weight, dtype):
    """(device array, flag): the kernels take a placeholder, not None."""
    if sample_weight is None:
        return placeholder(dtype), False
    return flat(as_device(sample_weight)), True


def softmax_cross_entropy(logits, labels, dlogits=None, sample_weight=None):
    """Fused softmax + cross-entropy, batch mean (no argument checks)."""
    logits, labels, dlogits = as_device(logits), as_device(labels), as_device(dlogits)
    acc = accumulator(np.float64, 2)
    has_grad = dlogits is not None
    _softmax_cross_entropy[grid_1d(logits.shape[0])](
        logits,
        labels,
        dlogits if has_grad else placeholder(logits.dtype, ndim=2),
        has_grad,
        *_weights_arg(sample_weight, logits.dtype),
        acc,
    )
    return _finish(acc, logits.shape[0], "labels")


@cuda.jit
def _mse(pred, target, dpred, has_grad, weights, weighted, row_size, acc):
    inv_n = 1.0 / pred.size
    start, stride = cuda.grid(1), cuda.gridsize(1)
    local = 0.0
    for i in range(start, pred.size, stride):
        weight = weights[i // row_size] if weighted else 1.0
        diff = pred[i] - target[i]
        local += diff * diff * weight
        if has_grad:
            dpred[i] = 2.0 * (inv_n * weight) * diff
    cuda.atomic.add(acc, 0, local)


def mse(pred, target, dpred=None, sample_weight=None):
    """Mean squared error over all elements (no argument checks)."""
    row_size = pred.size // pred.shape[0] if len(pred.shape) else 1
    pred, target = flat(as_device(pred)), flat(as_device(target))
    dpred = flat(as_device(dpred)) if dpred is not None else None
    acc = accumulator(np.float64, 2)
    has_grad = dpred is not None
    _mse[grid_1d(pred.size)](
        pred,
        target,
        dpred if has_grad else placeholder(pred.dtype),
        has_grad,
        *_weights_arg(sample_weight, pred.dtype),
        row_size,
        acc,
    )
    return _finish(acc, pred.size, "target")


@cuda.jit
def _bce(logits, target, dlogits, has_grad, weights, weighted, row_size, acc):
    inv_n = 1.0 / logits.size
    start, stride = cuda.grid(1), cuda.gridsize(1)
    local = 0.0
    for i in range(start, logits.size, stride):
        weight = weights[i // row_size] if weighted else 1.0
        x = logits[i]
        t = target[i]
        local += (max(x, 0.0) - x * t + math.log1p(math.exp(-abs(x)))) * weight
        if has_grad:
            dlogits[i] = (activate(x, SIGMOID, 0.0) - t) * (inv_n * weight)
    cuda.atomic.add(acc, 0, local)


def binary_cross_entropy_with_logits(logits, target, dlogits=None, sample_weight=None):
    """Stable mean BCE on logits (no argument checks)."""
    row_size = logits.size // logits.shape[0] if len(logits.shape) else 1
    logits, target = flat(as_device(logits)), flat(as_device(target))
    dlogits = flat(as_device(dlogits)) if dlogits is not None else None
    acc = accumulator(np.float64, 2)
    has_grad = dlogits is not None
    _bce[grid_1d(logits.size)](
        logits,
        target,
        dlogits if has_grad else placeholder(logits.dtype),
        has_grad,
        *_weights_arg(sample_weight, logits.dtype),
        row_size,
        acc,
    )
    return _finish(acc, logits.size, "target")
