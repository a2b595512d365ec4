"""Fused Numba kernels behind ``fastnn.sklearn``'s stochastic solvers, on
the flat parameter vector scikit-learn's MLP packs its weights into.

``fused_step``: one pass over the vector replaces several NumPy expressions:
the L2 term of the gradient (``g + c * w`` on the weights), scikit-learn's
optimizer update (SGD with momentum or Nesterov momentum, or Adam) and the
sum of squared weights of the L2 penalty, read before the update. Each
element is computed with the operations of the NumPy code it replaces, in the
same order and in the parameters' dtype (scalars arrive cast to it, as NumPy
casts Python floats), so results are bit-for-bit those of that code. The
squared sum follows NumPy's pairwise summation (``np.add.reduce`` over a
contiguous vector: blocks of at most 128 elements summed with 8
accumulators, halves split at multiples of 8), so the penalty is the one
``np.square(w).sum()`` gives, not a sequential sum.

``stochastic_epoch``: an epoch's mini-batches in one call: each batch's rows
gathered, its forward, loss and backward in one step, then ``fused_step``:
the batch kernels of ``epoch.py`` (``gather_batch``, ``stack_loss_step``,
whose losses include scikit-learn's squared error) and this update, in the
order of the estimator's per-batch loop, which calls the same ones, so
results are bit for bit that loop's.

Shapes: ``params``, ``grad`` and the optimizer state are (P,), the first
``n_coef`` entries the weights covered by the penalty.
"""

import math

import numpy as np

from .._jit import cpu_jit
from .epoch import (
    BINARY_CROSS_ENTROPY,
    CROSS_ENTROPY,
    HALF_SQUARED_ERROR,
    gather_batch,
    stack_loss_step,
)

#: ``op`` codes of ``fused_step``.
L2_ONLY, SGD, NESTEROV, ADAM = 0, 1, 2, 3

#: Output kinds of the estimators' batches, as ``stack_loss_step`` codes:
#: softmax with log-loss (labels), one logistic output with log-loss (binary
#: cross-entropy on its logit), identity outputs with squared error.
SOFTMAX, LOGISTIC, SQUARED = CROSS_ENTROPY, BINARY_CROSS_ENTROPY, HALF_SQUARED_ERROR

# NumPy's pairwise summation leaf size (PW_BLOCKSIZE in loops_utils.h)
_BLOCK = 128


@cpu_jit
def _gradient(dw, w, i, l2):
    """dw[i] with the L2 term ``l2 * w[i]`` added and stored back (as
    NumPy's separate pass leaves the gradient), or dw[i] as it is when
    ``l2`` is None (decided at compile time)."""
    g = dw[i]
    if l2 is not None:
        g = g + l2 * w[i]
        dw[i] = g
    return g


@cpu_jit
def _update(params, grad, state1, state2, lo, end, l2, op, s):
    """Add the L2 term to grad[lo:end] (when ``l2`` is not None) and update
    params[lo:end] with the scalars ``s`` (six, zero-padded): SGD/NESTEROV
    (lr, momentum); ADAM (lr, b1, 1 - b1, b2, 1 - b2, eps), lr in float64
    (NumPy promotes the step to float64 there: scikit-learn's Adam rate is a
    NumPy float64). One loop per op: a branch per element costs 5x here."""
    # slices indexed from 0: LLVM then knows no index is negative (Numba's
    # wraparound check) and vectorizes the loops: Adam 1.7x faster measured
    w, dw = params[lo:end], grad[lo:end]
    a, b = state1[lo:end], state2[lo:end]
    # the L2 term joins each op's loop (dw[i] + l2 * w[i], stored, then used
    # as the gradient, as NumPy's separate passes compute it): a pass of its
    # own read and wrote the gradient once more. ``l2 is None`` is decided
    # at compile time (Numba prunes the branch for a None argument).
    if op == L2_ONLY:
        if l2 is not None:
            for i in range(w.size):
                _gradient(dw, w, i, l2)
    elif op == SGD:
        for i in range(w.size):
            g = _gradient(dw, w, i, l2)
            # v *= momentum; v -= lr * g; w += v
            vel = a[i] * s[1] - s[0] * g
            a[i] = vel
            w[i] = w[i] + vel
    elif op == NESTEROV:
        for i in range(w.size):
            g = _gradient(dw, w, i, l2)
            vel = a[i] * s[1] - s[0] * g
            a[i] = vel
            w[i] = w[i] + (s[1] * vel - s[0] * g)
    elif op == ADAM:
        for i in range(w.size):
            g = _gradient(dw, w, i, l2)
            # m = b1 * m + (1 - b1) * g; v = b2 * v + (1 - b2) * g**2
            m = a[i] * s[1] + s[2] * g
            v = b[i] * s[3] + s[4] * (g * g)
            a[i] = m
            b[i] = v
            w[i] = w[i] - s[0] * m / (np.sqrt(v) + s[5])


@cpu_jit
def _leaf(params, lo, n):
    """Squared sum of params[lo:lo+n] (n <= 128) as NumPy sums a leaf."""
    p = params[lo : lo + n]  # indexed from 0: see ``_update``
    if n < 8:
        total = params.dtype.type(0)
        for i in range(n):
            total += p[i] * p[i]
        return total
    r0, r1, r2, r3 = p[0] * p[0], p[1] * p[1], p[2] * p[2], p[3] * p[3]
    r4, r5, r6, r7 = p[4] * p[4], p[5] * p[5], p[6] * p[6], p[7] * p[7]
    blocks_end = n - n % 8
    for i in range(8, blocks_end, 8):
        r0 += p[i] * p[i]
        r1 += p[i + 1] * p[i + 1]
        r2 += p[i + 2] * p[i + 2]
        r3 += p[i + 3] * p[i + 3]
        r4 += p[i + 4] * p[i + 4]
        r5 += p[i + 5] * p[i + 5]
        r6 += p[i + 6] * p[i + 6]
        r7 += p[i + 7] * p[i + 7]
    total = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    for i in range(blocks_end, n):
        total += p[i] * p[i]
    return total


@cpu_jit
def pairwise_squares(params, n):
    """``np.square(params[:n]).sum()`` with NumPy's pairwise summation."""
    # NumPy's recursion (split n at n // 2 rounded down to a multiple of 8,
    # leaves of <= 128) run with an explicit stack: Numba's cache cannot hold
    # a recursive function. Frames are (lo, n, halves already pushed).
    frames = np.empty((128, 3), np.int64)
    sums = np.empty(64, params.dtype)
    frames[0, 0], frames[0, 1], frames[0, 2] = 0, n, 0
    top, n_sums = 1, 0
    while top > 0:
        top -= 1
        lo, size, split = frames[top, 0], frames[top, 1], frames[top, 2]
        if size <= _BLOCK:
            sums[n_sums] = _leaf(params, lo, size)
            n_sums += 1
        elif split:
            n_sums -= 1
            sums[n_sums - 1] = sums[n_sums - 1] + sums[n_sums]
        else:
            half = size // 2
            half -= half % 8
            frames[top, 2] = 1  # combine once both halves are summed
            frames[top + 1, 0], frames[top + 1, 1], frames[top + 1, 2] = (
                lo + half,
                size - half,
                0,
            )
            frames[top + 2, 0], frames[top + 2, 1], frames[top + 2, 2] = lo, half, 0
            top += 3
    return sums[0] if n_sums else params.dtype.type(0)


@cpu_jit
def fused_step(params, grad, state1, state2, n_coef, l2, op, s):
    """Add ``l2 * w`` to the weights' gradient, apply update ``op`` to every
    parameter (L2_ONLY: none) and return the pairwise sum of the weights'
    squares before the update. ``state1``/``state2``: velocity (SGD) or the
    moments m, v (Adam); ``s``: scalars, see ``_update``. Updates ``params``,
    ``grad`` and the state in place."""
    # the squares first, in a read-only pass: summing leaf by leaf inside the
    # update loop cut it into 128-element pieces, 1.8x slower measured
    # (Adam on 235k float64 parameters: 563 us fused per leaf)
    squares = pairwise_squares(params, n_coef)
    _update(params, grad, state1, state2, 0, n_coef, l2, op, s)
    _update(params, grad, state1, state2, n_coef, params.size, None, op, s)
    return squares


@cpu_jit
def stochastic_epoch(
    X, labels, targets, order, kind, full, bufs, stack, tail_bufs, tail_stack,
    flat, grad, state1, state2, n_coef, op, lrs, constants, l2s, alpha, w_sums,
    row_weights,
):  # fmt: skip
    """An epoch's mini-batches in order: ``full`` batches of B rows (B the
    rows of ``bufs``), then, when ``lrs`` has one more entry, the shorter
    last batch with ``tail_bufs``/``tail_stack`` (the same buffers cut to
    its rows). Batch k takes rows order[k * B:k * B + rows]: gather, the
    fused step of the output ``kind`` (SOFTMAX, LOGISTIC, SQUARED), then
    ``fused_step`` with op ``op`` and scalars (lrs[k], *constants). Per batch k: ``l2s[k]`` the L2 coefficient
    alpha / w_sums[k] in the parameters' dtype, ``w_sums[k]`` its weight sum
    (its rows without weights), ``row_weights[k, :rows]`` its rows' weights
    rescaled to mean 1 (or None). Returns (the sum over the batches trained
    of (loss + L2 penalty) x rows, added in batch order as the estimator adds
    them; the batches trained): a batch whose loss is not finite stops the
    run before its update, for the caller to train it the estimator's way."""
    batch = bufs[0].shape[0]
    total = 0.0
    for k in range(lrs.size):
        if k < full:
            xbuf, lbuf, tbuf = bufs
            this_stack = stack
        else:
            xbuf, lbuf, tbuf = tail_bufs
            this_stack = tail_stack
        rows = xbuf.shape[0]
        lo = k * batch
        idx = order[lo : lo + rows]
        gather_batch(X, labels, targets, idx, 1.0, (xbuf, lbuf, tbuf), kind)
        if row_weights is None:  # (a None argument prunes the other branch)
            loss = stack_loss_step(xbuf, lbuf, tbuf, this_stack, kind, None)
        else:
            loss = stack_loss_step(
                xbuf, lbuf, tbuf, this_stack, kind, row_weights[k, :rows]
            )
        if not math.isfinite(loss):  # nothing back-propagated or updated
            return total, k
        scalars = (
            lrs[k], constants[0], constants[1], constants[2], constants[3],
            constants[4],
        )  # fmt: skip
        squares = fused_step(flat, grad, state1, state2, n_coef, l2s[k], op, scalars)
        # as the estimator's Python: float(loss + 0.5 * alpha * squares / w_sum)
        batch_loss = loss + 0.5 * alpha * float(squares) / w_sums[k]
        total += batch_loss * rows
    return total, lrs.size
