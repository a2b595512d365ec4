"""Fused Numba kernels for ``fastnn.sklearn``'s per-batch work on the flat
parameter vector.

One pass over the vector replaces several NumPy expressions: the L2 term of
the gradient (``g + c * w`` on the weights), scikit-learn's optimizer update
(SGD with momentum or Nesterov momentum, or Adam) and the sum of squared
weights of the L2 penalty, read before the update. Each element is computed
with the operations of the NumPy code it replaces, in the same order and in
the parameters' dtype (scalars arrive cast to it, as NumPy casts Python
floats), so results are bit-for-bit those of that code. The squared sum
follows NumPy's pairwise summation (``np.add.reduce`` over a contiguous
vector: blocks of at most 128 elements summed with 8 accumulators, halves
split at multiples of 8), so the penalty is the one ``np.square(w).sum()``
gives, not a sequential sum.

Shapes: ``params``, ``grad`` and the optimizer state are (P,), the first
``n_coef`` entries the weights covered by the penalty.
"""

import numpy as np

from fastnn.kernels._jit import cpu_jit

#: ``op`` codes of ``fused_step``.
L2_ONLY, SGD, NESTEROV, ADAM = 0, 1, 2, 3

# NumPy's pairwise summation leaf size (PW_BLOCKSIZE in loops_utils.h)
_BLOCK = 128


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
    if l2 is not None:
        for i in range(w.size):
            dw[i] = dw[i] + l2 * w[i]
    if op == SGD:
        for i in range(w.size):
            # v *= momentum; v -= lr * g; w += v
            vel = a[i] * s[1] - s[0] * dw[i]
            a[i] = vel
            w[i] = w[i] + vel
    elif op == NESTEROV:
        for i in range(w.size):
            g = dw[i]
            vel = a[i] * s[1] - s[0] * g
            a[i] = vel
            w[i] = w[i] + (s[1] * vel - s[0] * g)
    elif op == ADAM:
        for i in range(w.size):
            # m = b1 * m + (1 - b1) * g; v = b2 * v + (1 - b2) * g**2
            g = dw[i]
            m = a[i] * s[1] + s[2] * g
            v = b[i] * s[3] + s[4] * (g * g)
            a[i] = m
            b[i] = v
            w[i] = w[i] - s[0] * m / (np.sqrt(v) + s[5])


@cpu_jit
def _leaf(params, grad, state1, state2, lo, n, l2, op, s):
    """Squared sum of params[lo:lo+n] (n <= 128) as NumPy sums a leaf, read
    before the leaf's elements get their L2 term and update."""
    end = lo + n
    if n < 8:
        total = params.dtype.type(0)
        for i in range(lo, end):
            total += params[i] * params[i]
    else:
        r0, r1, r2, r3 = params[lo], params[lo + 1], params[lo + 2], params[lo + 3]
        r4, r5, r6, r7 = params[lo + 4], params[lo + 5], params[lo + 6], params[lo + 7]
        r0, r1, r2, r3 = r0 * r0, r1 * r1, r2 * r2, r3 * r3
        r4, r5, r6, r7 = r4 * r4, r5 * r5, r6 * r6, r7 * r7
        blocks_end = end - n % 8
        for i in range(lo + 8, blocks_end, 8):
            r0 += params[i] * params[i]
            r1 += params[i + 1] * params[i + 1]
            r2 += params[i + 2] * params[i + 2]
            r3 += params[i + 3] * params[i + 3]
            r4 += params[i + 4] * params[i + 4]
            r5 += params[i + 5] * params[i + 5]
            r6 += params[i + 6] * params[i + 6]
            r7 += params[i + 7] * params[i + 7]
        total = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        for i in range(blocks_end, end):
            total += params[i] * params[i]
    _update(params, grad, state1, state2, lo, end, l2, op, s)
    return total


@cpu_jit
def fused_step(params, grad, state1, state2, n_coef, l2, op, s):
    """Add ``l2 * w`` to the weights' gradient, apply update ``op`` to every
    parameter (L2_ONLY: none) and return the pairwise sum of the weights'
    squares before the update. ``state1``/``state2``: velocity (SGD) or the
    moments m, v (Adam); ``s``: scalars, see ``_update``. Updates ``params``,
    ``grad`` and the state in place."""
    # NumPy's recursion (split n at n // 2 rounded down to a multiple of 8,
    # leaves of <= 128) run with an explicit stack: Numba's cache cannot hold
    # a recursive function. Frames are (lo, n, halves already pushed).
    frames = np.empty((128, 3), np.int64)
    sums = np.empty(64, params.dtype)
    frames[0, 0], frames[0, 1], frames[0, 2] = 0, n_coef, 0
    top, n_sums = 1, 0
    while top > 0:
        top -= 1
        lo, n, split = frames[top, 0], frames[top, 1], frames[top, 2]
        if n <= _BLOCK:
            sums[n_sums] = _leaf(params, grad, state1, state2, lo, n, l2, op, s)
            n_sums += 1
        elif split:
            n_sums -= 1
            sums[n_sums - 1] = sums[n_sums - 1] + sums[n_sums]
        else:
            half = n // 2
            half -= half % 8
            frames[top, 2] = 1  # combine once both halves are summed
            frames[top + 1, 0], frames[top + 1, 1], frames[top + 1, 2] = (
                lo + half,
                n - half,
                0,
            )
            frames[top + 2, 0], frames[top + 2, 1], frames[top + 2, 2] = lo, half, 0
            top += 3
    _update(params, grad, state1, state2, n_coef, params.size, None, op, s)
    return sums[0] if n_sums else params.dtype.type(0)
