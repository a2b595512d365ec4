"""Many training steps of a dense network in one compiled call (CPU).

``Sequential.fit`` on the CPU otherwise returns to Python between steps: on a
small network (32-64-64-10 at batch 32, a ~25 us step) the per-step Python
work (gather calls, optimizer scalars, progress) costs as much again. These
loops run a run of mini-batches, each step made of the very kernels the
step-by-step path calls (``gather_rows``; ``dense_stack_forward``, the loss
kernel and the layers' backward, which for cross-entropy make up
``dense_stack_cross_entropy_step``; ``count_correct``/``count_correct_binary``;
``_sgd_update``/``_adam_update`` with the divergence guard), in the same
order, so the results are bit for bit the same.

Networks with Dropout between their dense layers train through
``staged_loss_step`` instead: the layers' own forward, loss and backward
kernels stage by stage, with the dropout noise the host drew for the run in
the step-by-step path's order. The short last batch of an epoch runs in the
same call on the same buffers cut to its rows.

Each returns ``(done, loss_sum, correct, status, loss)``: ``done`` is the
first step not completed, ``loss_sum`` the running sum of each batch's loss
times ``counts[k]`` (its rows, or its sum of sample weights; continued from
the caller's, in the caller's order), ``status`` 0 when all
steps ran, 1 when step ``done``'s loss was ``loss``, non-finite (nothing
updated), 2 when its update was refused by the guard.
"""

import math

from .._jit import cpu_jit
from .dense import (
    _dense_backward,
    _dense_forward,
    _dense_stack_backward,
    dense_stack_forward,
)
from .dropout import _dropout
from .gather import gather_rows
from .losses import (
    _binary_cross_entropy_with_logits,
    _half_squared_error,
    _mse,
    _softmax_cross_entropy,
)
from .metrics import count_correct, count_correct_binary
from .optim import _adam_update, _sgd_update

#: The losses these loops train: ``kind`` codes. HALF_SQUARED_ERROR is
#: scikit-learn's (``kernels/cpu/sklearn_mlp.py`` trains with these steps).
CROSS_ENTROPY, MSE, BINARY_CROSS_ENTROPY, HALF_SQUARED_ERROR = 0, 1, 2, 3
#: Stage kinds of ``staged_loss_step``'s networks.
DENSE_STAGE, DROPOUT_STAGE = 0, 1


@cpu_jit
def _output_loss(out, labels, targets, dout, row_weights, kind):
    """Loss ``kind`` of the outputs ``out`` (labels for cross-entropy, else
    targets) and its gradient into ``dout``, as the loss kernels give them."""
    if kind == CROSS_ENTROPY:
        return _softmax_cross_entropy(out, labels, dout, row_weights)
    if kind == MSE:
        return _mse(out, targets, dout, row_weights, out.shape[1])
    if kind == HALF_SQUARED_ERROR:
        return _half_squared_error(out, targets, dout, row_weights)
    return _binary_cross_entropy_with_logits(
        out, targets, dout, row_weights, out.shape[1]
    )


@cpu_jit
def stack_loss_step(x, labels, targets, stack, kind, row_weights):
    """Forward, loss ``kind`` and backward of a plain dense stack on one
    batch (``stack``: weights, biases, outs, douts, dweights, dbiases,
    codes, slopes), with the kernels the step-by-step path calls one after
    another (for cross-entropy, ``dense_stack_cross_entropy_step``'s); its
    loss, nothing back-propagated when it is not finite. Cross-entropy reads
    ``labels`` (B,), the other losses ``targets`` (B, O); ``row_weights``:
    rescaled to mean 1, or None."""
    weights, biases, outs, douts, dweights, dbiases, codes, slopes = stack
    n = len(weights)
    dense_stack_forward(x, weights, biases, outs, codes, slopes)
    loss = _output_loss(outs[n - 1], labels, targets, douts[n - 1], row_weights, kind)
    if math.isfinite(loss):
        _dense_stack_backward(x, weights, outs, douts, dweights, dbiases, codes, slopes)
    return loss


@cpu_jit
def staged_loss_step(x, labels, targets, stack, stages, noise, kind, row_weights):
    """Forward, loss ``kind`` and backward of dense layers with Dropout
    between them, stage by stage with the kernels each layer calls (so bit
    for bit the step-by-step path). ``stack`` as in ``stack_loss_step``
    except that ``outs``/``douts`` hold every stage's output and its
    gradient, dropout stages' included; ``stages``: per stage its kind
    (DENSE_STAGE, DROPOUT_STAGE), its dense layer's index into the weight
    tuples, its dropout rate and the offset of its noise within a row of
    the batch's noise; ``noise``: the batch's uniform noise, stage after
    stage, each a C-ordered (rows, width) block. The first stage is dense.
    A loss that is not finite is returned before the backward pass (the
    step path back-propagates it first: its gradient buffers differ then,
    never its weights or optimizer state)."""
    weights, biases, outs, douts, dweights, dbiases, codes, slopes = stack
    kinds, layer, rates, offsets = stages
    n = len(outs)
    rows = x.shape[0]
    for i in range(n):
        source = x if i == 0 else outs[i - 1]
        if kinds[i] == DENSE_STAGE:
            j = layer[i]
            _dense_forward(source, weights[j], biases[j], outs[i], codes[j], slopes[j])
        else:
            lo = rows * offsets[i]
            _dropout(source, noise[lo : lo + outs[i].size], outs[i], rates[i])
    loss = _output_loss(outs[n - 1], labels, targets, douts[n - 1], row_weights, kind)
    if not math.isfinite(loss):
        return loss
    for i in range(n - 1, 0, -1):
        if kinds[i] == DENSE_STAGE:
            j = layer[i]
            _dense_backward(
                outs[i - 1], weights[j], outs[i], douts[i], douts[i - 1],
                dweights[j], dbiases[j], codes[j], slopes[j],
            )  # fmt: skip
        else:
            lo = rows * offsets[i]
            _dropout(douts[i], noise[lo : lo + outs[i].size], douts[i - 1], rates[i])
    _dense_backward(
        x, weights[0], outs[0], douts[0], None, dweights[0], dbiases[0], codes[0],
        slopes[0],
    )  # fmt: skip
    return loss


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
def _rows_of(row_weights, k, rows):
    """Batch k's row weights, or None without weights (a None argument
    prunes the other branch: no optional type)."""
    if row_weights is None:
        return None
    return row_weights[k, :rows]


@cpu_jit
def _batch_gradients(x, y, order, k, scale, batches, track, row_weights, kind, stages):
    """Gather batch ``k`` of ``order`` and run forward, loss and backward;
    (loss, correct count). ``y``: (labels, values), the targets of
    cross-entropy (int, (N,)) or of MSE/BCE ((N, O)), the other one unused;
    ``batches``: (bufs, stack) of a full batch, then of the shorter last
    batch (the same buffers cut to its rows), ``bufs`` being (input rows,
    label rows, value rows). ``row_weights``: None, or per batch its rows'
    loss weights already rescaled to a weighted mean (a (batches, rows)
    array, computed by the host as the step-by-step path computes them).
    ``stages``: None for a plain dense stack, else (kinds, layer index,
    rates, offsets, noise, noise per row, first step): ``staged_loss_step``'s
    stages and the noise the host drew for the steps from the first on."""
    labels, values = y
    full_bufs, full_stack, tail_bufs, tail_stack = batches
    batch = full_bufs[0].shape[0]
    if k < order.size // batch:
        bufs, stack = full_bufs, full_stack
    else:
        bufs, stack = tail_bufs, tail_stack
    xbuf, lbuf, tbuf = bufs
    rows = xbuf.shape[0]
    lo = k * batch
    gather_batch(x, labels, values, order[lo : lo + rows], scale, bufs, kind)
    weights = _rows_of(row_weights, k, rows)
    if stages is None:  # (a None argument prunes the other branch)
        loss = stack_loss_step(xbuf, lbuf, tbuf, stack, kind, weights)
    else:
        kinds, layer, rates, offsets, noise, per_row, first = stages
        start = (k - first) * batch * per_row  # only the last batch is short
        loss = staged_loss_step(
            xbuf, lbuf, tbuf, stack, (kinds, layer, rates, offsets),
            noise[start : start + rows * per_row], kind, weights,
        )  # fmt: skip
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
    x, y, order, scale, start, stop, batches, track, kind, loss_sum,
    params, grads, velocity, step, sgd, row_weights, counts, stages,
):  # fmt: skip
    """Steps ``start``..``stop - 1`` with SGD (the loss ``kind``, targets
    ``y``, ``batches`` and ``stages`` as in ``_batch_gradients``); ``step``
    the optimizer's count before them, ``sgd`` its scalars (lr, momentum,
    1 - dampening, weight_decay, nesterov, tiny, largest). ``row_weights`` as in
    ``_batch_gradients``; ``counts[k]``: what batch k's loss counts for in
    ``loss_sum`` (its rows, or its sum of sample weights)."""
    lr, momentum, damp_keep, weight_decay, nesterov, tiny, largest = sgd
    correct = 0
    for k in range(start, stop):
        loss, right = _batch_gradients(
            x, y, order, k, scale, batches, track, row_weights, kind, stages
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
    x, y, order, scale, start, stop, batches, track, kind, loss_sum,
    params, grads, m, v, decoupled, adam, step_sizes, corrections, row_weights,
    counts, stages,
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
            x, y, order, k, scale, batches, track, row_weights, kind, stages
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
