"""Losses, each returning the batch-mean loss and optionally its gradient (CPU).

Sums run in float64 whatever the input dtype, so a float32 batch of any size
gives a loss accurate to float32 rounding of the result. ``sample_weight``
(B,) or None multiplies each row's loss term and gradient; the sum is still
divided by the batch size (what Keras calls a sum over the batch size).
"""

import math

from .._jit import cpu_jit
from .activations import SIGMOID, activate


@cpu_jit
def _weight(sample_weight, row):
    """The weight of ``row``: 1.0 without weights (multiplying by it is exact,
    so unweighted results are bit for bit those of the plain formula)."""
    if sample_weight is None:
        return 1.0
    return float(sample_weight[row])


@cpu_jit
def _softmax_cross_entropy(logits, labels, dlogits, sample_weight):
    rows, cols = logits.shape
    total = 0.0
    for i in range(rows):
        weight = _weight(sample_weight, i)
        inv_rows = (1.0 / rows) * weight  # exactly 1 / rows when unweighted
        label = labels[i]
        if label < 0 or label >= cols:
            raise ValueError("labels: a value is outside [0, n_classes)")
        m = logits[i, 0]
        for j in range(1, cols):
            if logits[i, j] > m:
                m = logits[i, j]
        sum_exp = 0.0
        for j in range(cols):
            e = math.exp(logits[i, j] - m)
            sum_exp += e
            if dlogits is not None:
                dlogits[i, j] = e
        # loss_i = logsumexp(row) - row[label], stable for logits of any size
        total += (m + math.log(sum_exp) - logits[i, label]) * weight
        if dlogits is not None:
            scale = inv_rows / sum_exp
            for j in range(cols):
                dlogits[i, j] = dlogits[i, j] * scale
            dlogits[i, label] -= inv_rows
    return total * (1.0 / rows)


def softmax_cross_entropy(logits, labels, dlogits=None, sample_weight=None):
    """mean_i(logsumexp(logits_i) - logits_i[labels_i]); dlogits = (softmax - onehot)/N."""
    return _softmax_cross_entropy(logits, labels, dlogits, sample_weight)


@cpu_jit
def _mse(pred, target, dpred, sample_weight, row_size):
    flat_p = pred.reshape(pred.size)
    flat_t = target.reshape(target.size)
    inv_n = 1.0 / flat_p.size
    total = 0.0
    for i in range(flat_p.size):
        diff = flat_p[i] - flat_t[i]
        total += diff * diff * _weight(sample_weight, i // row_size)
    if dpred is not None:
        flat_d = dpred.reshape(dpred.size)
        for i in range(flat_p.size):
            scale = inv_n * _weight(sample_weight, i // row_size)
            flat_d[i] = 2 * scale * (flat_p[i] - flat_t[i])
    return total * inv_n


@cpu_jit
def _half_squared_error(out, targets, dout, sample_weight):
    """scikit-learn's squared-error loss (``fastnn.sklearn``'s regressor):
    0.5 * the (weighted) mean over rows and outputs of (p - y)^2, and its
    output gradient as scikit-learn takes it, (p - y) w / B, not divided by
    the outputs. Weights rescaled to mean 1 (or None)."""
    rows, outputs = out.shape
    total = 0.0
    for i in range(rows):
        weight = _weight(sample_weight, i)
        scale = (1.0 / rows) * weight  # exactly 1 / rows when unweighted
        for j in range(outputs):
            diff = out[i, j] - targets[i, j]
            total += diff * diff * weight
            dout[i, j] = diff * scale
    return 0.5 * total / (rows * outputs)


def mse(pred, target, dpred=None, sample_weight=None):
    """mean((pred - target)**2) over all elements; dpred = 2 (pred - target) / n."""
    return _mse(pred, target, dpred, sample_weight, _row_size(pred))


@cpu_jit
def _binary_cross_entropy_with_logits(logits, target, dlogits, sample_weight, row_size):
    flat_x = logits.reshape(logits.size)
    flat_t = target.reshape(target.size)
    inv_n = 1.0 / flat_x.size
    total = 0.0
    for i in range(flat_x.size):
        x = flat_x[i]
        t = flat_t[i]
        # max(x, 0) - x t + log(1 + exp(-|x|)): never overflows
        term = max(x, 0.0) - x * t + math.log1p(math.exp(-abs(x)))
        total += term * _weight(sample_weight, i // row_size)
    if dlogits is not None:
        flat_d = dlogits.reshape(dlogits.size)
        for i in range(flat_x.size):
            scale = inv_n * _weight(sample_weight, i // row_size)
            flat_d[i] = (activate(flat_x[i], SIGMOID, 0.0) - flat_t[i]) * scale
    return total * inv_n


def binary_cross_entropy_with_logits(logits, target, dlogits=None, sample_weight=None):
    """Stable mean BCE on logits; dlogits = (sigmoid(logits) - target) / n."""
    return _binary_cross_entropy_with_logits(
        logits, target, dlogits, sample_weight, _row_size(logits)
    )


def _row_size(a):
    """Elements per row (first axis) that one sample weight covers."""
    return a.size // a.shape[0] if a.ndim else 1
