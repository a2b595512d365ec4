"""Many training steps of a plain dense stack in one compiled call (CPU).

``Sequential.fit`` on the CPU otherwise returns to Python between steps: on a
small network (32-64-64-10 at batch 32, a ~25 us step) the per-step Python
work (gather calls, optimizer scalars, progress) costs as much again. These
loops run a run of full mini-batches, each step made of the very kernels the
step-by-step path calls (``gather_rows``, ``dense_stack_cross_entropy_step``,
``count_correct``, ``_sgd_update``/``_adam_update`` with the divergence
guard), in the same order, so the results are bit for bit the same.

Each returns ``(done, loss_sum, correct, status, loss)``: ``done`` is the
first step not completed, ``loss_sum`` the running sum of loss x batch
(continued from the caller's, in the caller's order), ``status`` 0 when all
steps ran, 1 when step ``done``'s loss was ``loss``, non-finite (nothing
updated), 2 when its update was refused by the guard.
"""

import math

from .._jit import cpu_jit
from .dense import dense_stack_cross_entropy_step
from .gather import gather_rows
from .metrics import count_correct
from .optim import _adam_update, _sgd_update


@cpu_jit
def _batch_gradients(x, y, order, k, scale, xbuf, ybuf, stack, track, row_weights):
    """Gather batch ``k`` of ``order`` and run forward, loss and backward;
    (loss, correct count). ``row_weights``: None, or per batch its rows'
    loss weights already rescaled to a weighted mean (a (batches, rows)
    array, computed by the host as the step-by-step path computes them)."""
    weights, biases, outs, douts, dweights, dbiases, codes, slopes = stack
    rows = xbuf.shape[0]
    lo = k * rows
    gather_rows(x, order[lo : lo + rows], xbuf, scale)
    for i in range(rows):
        ybuf[i] = y[order[lo + i]]
    if row_weights is None:
        loss = dense_stack_cross_entropy_step(
            xbuf, ybuf, weights, biases, outs, douts, dweights, dbiases, codes,
            slopes, None,
        )  # fmt: skip
    else:
        loss = dense_stack_cross_entropy_step(
            xbuf, ybuf, weights, biases, outs, douts, dweights, dbiases, codes,
            slopes, row_weights[k],
        )  # fmt: skip
    correct = 0
    if track and math.isfinite(loss):
        correct = count_correct(outs[len(outs) - 1], ybuf)
    return loss, correct


@cpu_jit
def sgd_steps(
    x, y, order, scale, start, stop, xbuf, ybuf, stack, track, loss_sum,
    params, grads, velocity, step, sgd, row_weights, counts,
):  # fmt: skip
    """Steps ``start``..``stop - 1`` with SGD; ``step`` the optimizer's count
    before them, ``sgd`` its scalars (lr, momentum, 1 - dampening,
    weight_decay, nesterov, tiny, largest). ``row_weights`` as in
    ``_batch_gradients``; ``counts[k]``: what batch k's loss counts for in
    ``loss_sum`` (its rows, or its sum of sample weights)."""
    lr, momentum, damp_keep, weight_decay, nesterov, tiny, largest = sgd
    correct = 0
    for k in range(start, stop):
        loss, right = _batch_gradients(
            x, y, order, k, scale, xbuf, ybuf, stack, track, row_weights
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
    x, y, order, scale, start, stop, xbuf, ybuf, stack, track, loss_sum,
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
            x, y, order, k, scale, xbuf, ybuf, stack, track, row_weights
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
