"""Many training steps of a plain dense stack in one compiled call (CPU).

``Sequential.fit`` on the CPU otherwise returns to Python between steps: on a
small network (32-64-64-10 at batch 32, a ~25 us step) the per-step Python
work (gather calls, optimizer scalars, progress) costs as much again. These
loops run a run of full mini-batches, each step made of the very kernels the
step-by-step path calls (``gather_rows``; ``dense_stack_cross_entropy_step``,
or for MSE and binary cross-entropy ``dense_stack_forward``, the loss kernel
and the layers' backward; ``count_correct``/``count_correct_binary``;
``_sgd_update``/``_adam_update`` with the divergence guard), in the same
order, so the results are bit for bit the same.

Each returns ``(done, loss_sum, correct, status, loss)``: ``done`` is the
first step not completed, ``loss_sum`` the running sum of loss x batch
(continued from the caller's, in the caller's order), ``status`` 0 when all
steps ran, 1 when step ``done``'s loss was ``loss``, non-finite (nothing
updated), 2 when its update was refused by the guard.
"""

import math

from .._jit import cpu_jit
from .dense import (
    _dense_stack_backward,
    dense_stack_cross_entropy_step,
    dense_stack_forward,
)
from .gather import gather_rows
from .losses import _binary_cross_entropy_with_logits, _half_squared_error, _mse
from .metrics import count_correct, count_correct_binary
from .optim import _adam_update, _sgd_update

#: The losses these loops train: ``kind`` codes. HALF_SQUARED_ERROR is
#: scikit-learn's (``kernels/cpu/sklearn_mlp.py`` trains with these steps).
CROSS_ENTROPY, MSE, BINARY_CROSS_ENTROPY, HALF_SQUARED_ERROR = 0, 1, 2, 3


@cpu_jit
def _values_step(x, targets, stack, row_weights, kind):
    """Forward, a loss on real targets (``kind``: MSE, binary cross-entropy
    on logits, scikit-learn's half squared error) and backward of a plain
    dense stack, with the kernels the step-by-step path calls one after
    another; the loss (nothing back-propagated when it is not finite)."""
    weights, biases, outs, douts, dweights, dbiases, codes, slopes = stack
    n = len(weights)
    dense_stack_forward(x, weights, biases, outs, codes, slopes)
    out = outs[n - 1]
    if kind == MSE:
        loss = _mse(out, targets, douts[n - 1], row_weights, out.shape[1])
    elif kind == HALF_SQUARED_ERROR:
        loss = _half_squared_error(out, targets, douts[n - 1], row_weights)
    else:
        loss = _binary_cross_entropy_with_logits(
            out, targets, douts[n - 1], row_weights, out.shape[1]
        )
    if math.isfinite(loss):
        _dense_stack_backward(x, weights, outs, douts, dweights, dbiases, codes, slopes)
    return loss


@cpu_jit
def stack_loss_step(x, labels, targets, stack, kind, row_weights):
    """Forward, loss ``kind`` and backward of a plain dense stack on one
    batch (``stack``: weights, biases, outs, douts, dweights, dbiases,
    codes, slopes); its loss. Cross-entropy reads ``labels`` (B,), the other
    losses ``targets`` (B, O); ``row_weights``: rescaled to mean 1, or None."""
    weights, biases, outs, douts, dweights, dbiases, codes, slopes = stack
    if kind == CROSS_ENTROPY:
        return dense_stack_cross_entropy_step(
            x, labels, weights, biases, outs, douts, dweights, dbiases, codes,
            slopes, row_weights,
        )  # fmt: skip
    return _values_step(x, targets, stack, row_weights, kind)


@cpu_jit
def gather_batch(x, labels, values, idx, scale, bufs, kind):
    """Rows ``idx`` of the inputs (times ``scale``, as ``gather_rows``) into
    ``bufs[0]``, and of the targets: labels into ``bufs[1]`` for
    cross-entropy, else value rows into ``bufs[2]``."""
    xbuf, lbuf, tbuf = bufs
    gather_rows(x, idx, xbuf, scale)
    for i in range(idx.size):
        if kind == CROSS_ENTROPY:
            lbuf[i] = labels[idx[i]]
        else:
            tbuf[i, :] = values[idx[i], :]


@cpu_jit
def _batch_gradients(x, y, order, k, scale, bufs, stack, track, row_weights, kind):
    """Gather batch ``k`` of ``order`` and run forward, loss and backward;
    (loss, correct count). ``y``: (labels, values), the targets of
    cross-entropy (int, (N,)) or of MSE/BCE ((N, O)), the other one unused;
    ``bufs``: (input rows, label rows, value rows) alike. ``row_weights``:
    None, or per batch its rows' loss weights already rescaled to a weighted
    mean (a (batches, rows) array, computed by the host as the step-by-step
    path computes them)."""
    labels, values = y
    xbuf, lbuf, tbuf = bufs
    rows = xbuf.shape[0]
    lo = k * rows
    gather_batch(x, labels, values, order[lo : lo + rows], scale, bufs, kind)
    if row_weights is None:
        loss = stack_loss_step(xbuf, lbuf, tbuf, stack, kind, None)
    else:
        loss = stack_loss_step(xbuf, lbuf, tbuf, stack, kind, row_weights[k])
    correct = 0
    if track and math.isfinite(loss):
        out = stack[2][len(stack[2]) - 1]
        if kind == CROSS_ENTROPY:
            correct = count_correct(out, lbuf)
        else:
            correct = count_correct_binary(out, tbuf)
    return loss, correct


@cpu_jit
def sgd_steps(
    x, y, order, scale, start, stop, bufs, stack, track, kind, loss_sum,
    params, grads, velocity, step, sgd, row_weights, counts,
):  # fmt: skip
    """Steps ``start``..``stop - 1`` with SGD (the loss ``kind``, targets
    ``y`` and buffers ``bufs`` as in ``_batch_gradients``); ``step`` the optimizer's count
    before them, ``sgd`` its scalars (lr, momentum, 1 - dampening,
    weight_decay, nesterov, tiny, largest). ``row_weights`` as in
    ``_batch_gradients``; ``counts[k]``: what batch k's loss counts for in
    ``loss_sum`` (its rows, or its sum of sample weights)."""
    lr, momentum, damp_keep, weight_decay, nesterov, tiny, largest = sgd
    correct = 0
    for k in range(start, stop):
        loss, right = _batch_gradients(
            x, y, order, k, scale, bufs, stack, track, row_weights, kind
        )
        if not math.isfinite(loss):
            return k, loss_sum, correct, 1, loss
        step += 1
        refused = _sgd_update(
            params, grads, velocity, step == 1, lr, momentum, damp_keep,
            weight_decay, nesterov, tiny, True, largest,
        )  # fmt: skip
        if refused:
            return k, loss_sum, correct, 2, loss
        correct += right
        loss_sum += loss * counts[k]
    return stop, loss_sum, correct, 0, 0.0


@cpu_jit
def adam_steps(
    x, y, order, scale, start, stop, bufs, stack, track, kind, loss_sum,
    params, grads, m, v, decoupled, adam, step_sizes, corrections, row_weights,
    counts,
):  # fmt: skip
    """As ``sgd_steps`` with Adam: ``adam`` its constant scalars
    (beta1_weight, lerp_low, beta2, beta2_keep, eps, weight_decay,
    decay_keep, tiny, largest); ``step_sizes``/``corrections`` each step's
    bias-corrected step size and sqrt(1 - beta2**t), computed by the host as
    the step-by-step path computes them."""
    b1w, lerp_low, b2, b2_keep, eps, wd, decay_keep, tiny, largest = adam
    correct = 0
    for k in range(start, stop):
        loss, right = _batch_gradients(
            x, y, order, k, scale, bufs, stack, track, row_weights, kind
        )
        if not math.isfinite(loss):
            return k, loss_sum, correct, 1, loss
        j = k - start
        refused = _adam_update(
            params, grads, m, v, decoupled, b1w, lerp_low, b2, b2_keep, eps, wd,
            decay_keep, step_sizes[j], corrections[j], tiny, True, largest,
        )  # fmt: skip
        if refused:
            return k, loss_sum, correct, 2, loss
        correct += right
        loss_sum += loss * counts[k]
    return stop, loss_sum, correct, 0, 0.0
