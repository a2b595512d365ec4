"""Optimizer updates, one in-place pass per parameter buffer (CPU).

The per-parameter arithmetic is ``sgd_element``/``adam_element`` in
``kernels/_scalar.py``, shared with the CUDA target; it follows torch.optim's
single-tensor implementations operation by operation, so trajectories match
torch to rounding. Scalars arrive already cast to the parameter dtype, as torch
casts them, so float32 buffers are updated in float32 arithmetic.

One deliberate difference: state buffers (momentum, Adam's moments) whose
magnitude falls below the dtype's smallest normal number are stored as 0
(flush to zero, what ``torch.set_flush_denormal(True)`` does). A parameter
whose gradient stays 0 (a dead ReLU unit) otherwise decays its buffer into
subnormal numbers, and x86 arithmetic on subnormals is 10-100x slower:
measured here, an SGD step over 7,498 parameters went from 3.6 us to 35 us
once 10% of the momentum buffer was subnormal.
"""

import numpy as np

from .. import _scalar
from .._jit import cpu_jit
from .._scalar import SMALLEST_NORMAL  # noqa: F401 - re-exported

sgd_element = cpu_jit(_scalar.sgd_element)
adam_element = cpu_jit(_scalar.adam_element)


@cpu_jit
def _sgd_update(
    param,
    grad,
    velocity,
    first_step,
    lr,
    momentum,
    damp_keep,
    weight_decay,
    nesterov,
    tiny,
    guard,
    largest,
):
    param = param.reshape(param.size)
    grad = grad.reshape(grad.size)
    zero = param.dtype.type(0)
    if velocity is not None:
        flat_velocity = velocity.reshape(velocity.size)
    unguarded = not guard
    refused = False
    for i in range(param.size):
        buf = zero
        if velocity is not None:  # None exactly when momentum == 0
            buf = flat_velocity[i]
        old_p, old_buf = param[i], buf
        p, buf = sgd_element(
            param[i],
            grad[i],
            buf,
            velocity is not None,
            first_step,
            lr,
            momentum,
            damp_keep,
            weight_decay,
            nesterov,
            tiny,
        )
        # Compared with the dtype's largest value, not isfinite: the arithmetic
        # may run in a wider type that overflows only when stored. Selects and
        # an or-reduction keep the loop vectorized (a counter slowed it ~20%).
        ok = unguarded | ((abs(p) <= largest) & (abs(buf) <= largest))
        refused |= not ok
        param[i] = p if ok else old_p
        if velocity is not None:
            flat_velocity[i] = buf if ok else old_buf
    return refused


def sgd_update(
    param,
    grad,
    velocity,
    step,
    lr,
    momentum=0.0,
    dampening=0.0,
    weight_decay=0.0,
    nesterov=False,
    guard=False,
):
    """One torch.optim.SGD step on flat buffers, in place (no argument checks).

    ``guard=True``: elements whose new value would be infinite or NaN keep
    their old value (parameter and state); returns whether any did.
    """
    if momentum == 0:
        velocity = None  # torch keeps no buffer without momentum
    lr_, momentum_, damp_keep, weight_decay_, tiny = _scalar.sgd_scalars(
        param.dtype, lr, momentum, dampening, weight_decay
    )
    return _sgd_update(
        param,
        grad,
        velocity,
        step == 1,
        lr_,
        momentum_,
        damp_keep,
        weight_decay_,
        nesterov,
        tiny,
        bool(guard),
        largest_finite(param.dtype),
    )


@cpu_jit
def _adam_update(
    param,
    grad,
    m,
    v,
    decoupled,
    beta1_weight,
    lerp_low,
    beta2,
    beta2_keep,
    eps,
    weight_decay,
    decay_keep,
    step_size,
    bias_correction2_sqrt,
    tiny,
    guard,
    largest,
):
    param = param.reshape(param.size)
    grad = grad.reshape(grad.size)
    m = m.reshape(m.size)
    v = v.reshape(v.size)
    scalars = (
        beta1_weight,
        lerp_low,
        beta2,
        beta2_keep,
        eps,
        weight_decay,
        decay_keep,
        decoupled,
        step_size,
        bias_correction2_sqrt,
        tiny,
    )
    if not guard:  # the public kernel: torch's arithmetic, nothing else
        for i in range(param.size):
            param[i], m[i], v[i] = adam_element(param[i], grad[i], m[i], v[i], *scalars)
        return False
    # Guarded, as in _sgd_update. A loop of its own: the selects cost this
    # (sqrt- and division-bound) loop ~15%, which the public kernel skips.
    refused = False
    for i in range(param.size):
        old_p, old_m, old_v = param[i], m[i], v[i]
        p, mi, vi = adam_element(old_p, grad[i], old_m, old_v, *scalars)
        ok = (abs(p) <= largest) & (abs(mi) <= largest) & (abs(vi) <= largest)
        refused |= not ok
        param[i] = p if ok else old_p
        m[i] = mi if ok else old_m
        v[i] = vi if ok else old_v
    return refused


def adam_update(
    param,
    grad,
    m,
    v,
    step,
    lr,
    beta1=0.9,
    beta2=0.999,
    eps=1e-8,
    weight_decay=0.0,
    decoupled=False,
    guard=False,
):
    """One torch.optim.Adam (``decoupled=True``: AdamW) step, in place;
    ``guard`` as in ``sgd_update``."""
    scalars = _scalar.adam_scalars(
        param.dtype, step, lr, beta1, beta2, eps, weight_decay
    )
    return _adam_update(
        param, grad, m, v, decoupled, *scalars, bool(guard), largest_finite(param.dtype)
    )


_LARGEST = {}


def largest_finite(dtype):
    """np.finfo(dtype).max, cached: np.finfo costs ~0.2 us per optimizer step.
    Of the buffer's dtype: a float64 bound would widen every comparison in the
    guarded loop (measured: SGD's pass 14% slower)."""
    value = _LARGEST.get(dtype)
    if value is None:
        value = _LARGEST[dtype] = np.finfo(dtype).max
    return value
