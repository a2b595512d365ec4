"""Losses, each returning the batch-mean loss and optionally its gradient (CPU).

Sums run in float64 whatever the input dtype, so a float32 batch of any size
gives a loss accurate to float32 rounding of the result.
"""

import math

from .._jit import cpu_jit
from .activations import SIGMOID, activate


@cpu_jit
def _softmax_cross_entropy(logits, labels, dlogits):
    rows, cols = logits.shape
    inv_rows = 1.0 / rows
    total = 0.0
    for i in range(rows):
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
        total += m + math.log(sum_exp) - logits[i, label]
        if dlogits is not None:
            scale = inv_rows / sum_exp
            for j in range(cols):
                dlogits[i, j] = dlogits[i, j] * scale
            dlogits[i, label] -= inv_rows
    return total * inv_rows


def softmax_cross_entropy(logits, labels, dlogits=None):
    """mean_i(logsumexp(logits_i) - logits_i[labels_i]); dlogits = (softmax - onehot)/N."""
    return _softmax_cross_entropy(logits, labels, dlogits)


@cpu_jit
def _mse(pred, target, dpred):
    flat_p = pred.reshape(pred.size)
    flat_t = target.reshape(target.size)
    inv_n = 1.0 / flat_p.size
    total = 0.0
    for i in range(flat_p.size):
        diff = flat_p[i] - flat_t[i]
        total += diff * diff
    if dpred is not None:
        flat_d = dpred.reshape(dpred.size)
        for i in range(flat_p.size):
            flat_d[i] = 2 * inv_n * (flat_p[i] - flat_t[i])
    return total * inv_n


def mse(pred, target, dpred=None):
    """mean((pred - target)**2) over all elements; dpred = 2 (pred - target) / n."""
    return _mse(pred, target, dpred)


@cpu_jit
def _binary_cross_entropy_with_logits(logits, target, dlogits):
    flat_x = logits.reshape(logits.size)
    flat_t = target.reshape(target.size)
    inv_n = 1.0 / flat_x.size
    total = 0.0
    for i in range(flat_x.size):
        x = flat_x[i]
        t = flat_t[i]
        # max(x, 0) - x t + log(1 + exp(-|x|)): never overflows
        total += max(x, 0.0) - x * t + math.log1p(math.exp(-abs(x)))
    if dlogits is not None:
        flat_d = dlogits.reshape(dlogits.size)
        for i in range(flat_x.size):
            flat_d[i] = (activate(flat_x[i], SIGMOID, 0.0) - flat_t[i]) * inv_n
    return total * inv_n


def binary_cross_entropy_with_logits(logits, target, dlogits=None):
    """Stable mean BCE on logits; dlogits = (sigmoid(logits) - target) / n."""
    return _binary_cross_entropy_with_logits(logits, target, dlogits)
