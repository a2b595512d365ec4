"""Optimizer updates (CUDA): one grid-stride kernel per step over the flat
parameter buffer. The per-parameter arithmetic is the CPU target's, from
``kernels/_scalar.py`` (torch.optim order of operations, subnormal state
flushed to zero)."""

import math

import numpy as np

from .. import _scalar
from .._cuda_api import cuda_module
from ._launch import accumulator, as_device, flat, grid_1d, placeholder

cuda = cuda_module()

sgd_element = cuda.jit(device=True)(_scalar.sgd_element)
adam_element = cuda.jit(device=True)(_scalar.adam_element)


@cuda.jit(device=True)
def sgd_at(
    i,
    param,
    grad,
    velocity,
    use_momentum,
    first_step,
    lr,
    momentum,
    damp_keep,
    weight_decay,
    nesterov,
    tiny,
    guard,
):
    """Element ``i`` of one torch.optim.SGD step, in place. With ``guard``, an
    element whose new value (or momentum) is not finite keeps its old values;
    returns whether it did. Shared by this step-path kernel and the recorded
    step's (``graph_step.py``)."""
    buf = velocity[i] if use_momentum else param[i] - param[i]
    old_p, old_buf = param[i], buf
    p, buf = sgd_element(
        param[i],
        grad[i],
        buf,
        use_momentum,
        first_step,
        lr,
        momentum,
        damp_keep,
        weight_decay,
        nesterov,
        tiny,
    )
    param[i] = p
    if use_momentum:
        velocity[i] = buf
    if guard:  # checked after the store, as on the CPU
        stored_buf = velocity[i] if use_momentum else old_buf
        if not (math.isfinite(param[i]) and math.isfinite(stored_buf)):
            param[i] = old_p  # rare: training diverged
            if use_momentum:
                velocity[i] = old_buf
            return True
    return False


@cuda.jit
def _sgd(
    param,
    grad,
    velocity,
    use_momentum,
    first_step,
    lr,
    momentum,
    damp_keep,
    weight_decay,
    nesterov,
    tiny,
    guard,
    refused,
):
    start, stride = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, param.size, stride):
        if sgd_at(
            i,
            param,
            grad,
            velocity,
            use_momentum,
            first_step,
            lr,
            momentum,
            damp_keep,
            weight_decay,
            nesterov,
            tiny,
            guard,
        ):
            cuda.atomic.add(refused, 0, 1)


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
    """One torch.optim.SGD step on the GPU, in place (no argument checks).

    ``guard=True``: elements whose new value would be infinite or NaN keep
    their old value; returns whether any did (a device-to-host copy).
    """
    param, grad = flat(as_device(param)), flat(as_device(grad))
    use_momentum = momentum != 0
    velocity = flat(as_device(velocity)) if use_momentum else placeholder(param.dtype)
    lr_, momentum_, damp_keep, weight_decay_, tiny = _scalar.sgd_scalars(
        param.dtype, lr, momentum, dampening, weight_decay
    )
    refused = accumulator(np.int64, 1) if guard else placeholder(np.int64)
    _sgd[grid_1d(param.size)](
        param,
        grad,
        velocity,
        use_momentum,
        step == 1,
        lr_,
        momentum_,
        damp_keep,
        weight_decay_,
        nesterov,
        tiny,
        bool(guard),
        refused,
    )
    return _any_refused(refused) if guard else False


def _any_refused(refused):
    return bool(refused.copy_to_host()[0])


@cuda.jit(device=True)
def adam_at(
    i,
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
):
    """Element ``i`` of one torch.optim.Adam/AdamW step, in place; ``guard``
    and the return value as in ``sgd_at``."""
    p, mi, vi = adam_element(
        param[i],
        grad[i],
        m[i],
        v[i],
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
    old_p, old_m, old_v = param[i], m[i], v[i]
    param[i] = p
    m[i] = mi
    v[i] = vi
    if guard and not (
        math.isfinite(param[i]) and math.isfinite(m[i]) and math.isfinite(v[i])
    ):
        param[i] = old_p
        m[i] = old_m
        v[i] = old_v
        return True
    return False


@cuda.jit
def _adam(
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
    refused,
):
    start, stride = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, param.size, stride):
        if adam_at(
            i,
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
        ):
            cuda.atomic.add(refused, 0, 1)


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
    """One torch.optim.Adam/AdamW step on the GPU, in place (no argument
    checks); ``guard`` as in ``sgd_update``."""
    param, grad, m, v = (flat(as_device(a)) for a in (param, grad, m, v))
    scalars = _scalar.adam_scalars(
        param.dtype, step, lr, beta1, beta2, eps, weight_decay
    )
    refused = accumulator(np.int64, 1) if guard else placeholder(np.int64)
    _adam[grid_1d(param.size)](
        param, grad, m, v, decoupled, *scalars, bool(guard), refused
    )
    return _any_refused(refused) if guard else False
