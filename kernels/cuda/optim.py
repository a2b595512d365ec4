"""Optimizer updates (CUDA): one grid-stride kernel per step over the flat
parameter buffer, with the arithmetic of ``kernels/cpu/optim.py`` (torch.optim
order of operations, subnormal state flushed to zero as on the CPU)."""

import math

import numpy as np
from numba import cuda

from .. import _scalar
from ..cpu.optim import SMALLEST_NORMAL
from ._launch import as_device, flat, grid_1d, placeholder

flush_subnormal = cuda.jit(device=True)(_scalar.flush_subnormal)


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
):
    start, stride = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, param.size, stride):
        g = grad[i]
        if weight_decay != 0:
            g = g + weight_decay * param[i]
        if use_momentum:
            if first_step:
                buf = g
            else:
                buf = flush_subnormal(velocity[i] * momentum + damp_keep * g, tiny)
            velocity[i] = buf
            if nesterov:
                g = g + momentum * buf
            else:
                g = buf
        param[i] = param[i] + (-lr) * g


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
):
    """One torch.optim.SGD step on the GPU, in place (no argument checks)."""
    param, grad = flat(as_device(param)), flat(as_device(grad))
    use_momentum = momentum != 0
    velocity = flat(as_device(velocity)) if use_momentum else placeholder(param.dtype)
    cast = np.dtype(param.dtype).type
    _sgd[grid_1d(param.size)](
        param,
        grad,
        velocity,
        use_momentum,
        step == 1,
        cast(lr),
        cast(momentum),
        cast(1 - dampening),
        cast(weight_decay),
        nesterov,
        SMALLEST_NORMAL[np.dtype(param.dtype)],
    )


@cuda.jit
def _adam(
    param,
    grad,
    m,
    v,
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
):
    start, stride = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, param.size, stride):
        p = param[i]
        g = grad[i]
        if decoupled:
            p = p * decay_keep
        elif weight_decay != 0:
            g = g + weight_decay * p
        if lerp_low:
            mi = m[i] + beta1_weight * (g - m[i])
        else:
            mi = g - (g - m[i]) * (1 - beta1_weight)
        mi = flush_subnormal(mi, tiny)
        m[i] = mi
        vi = flush_subnormal(v[i] * beta2 + beta2_keep * g * g, tiny)
        v[i] = vi
        denom = math.sqrt(vi) / bias_correction2_sqrt + eps
        param[i] = p + (-step_size) * (mi / denom)


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
):
    """One torch.optim.Adam/AdamW step on the GPU, in place (no argument checks)."""
    param, grad, m, v = (flat(as_device(a)) for a in (param, grad, m, v))
    cast = np.dtype(param.dtype).type
    beta1_weight = 1 - beta1
    _adam[grid_1d(param.size)](
        param,
        grad,
        m,
        v,
        cast(beta1_weight),
        abs(beta1_weight) < 0.5,
        cast(beta2),
        cast(1 - beta2),
        cast(eps),
        cast(weight_decay),
        cast(1 - lr * weight_decay),
        decoupled,
        cast(lr / (1 - beta1**step)),
        cast(math.sqrt(1 - beta2**step)),
        SMALLEST_NORMAL[np.dtype(param.dtype)],
    )
