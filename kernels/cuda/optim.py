"""Optimizer updates (CUDA): one grid-stride kernel per step over the flat
parameter buffer. The per-parameter arithmetic is the CPU target's, from
``kernels/_scalar.py`` (torch.optim order of operations, subnormal state
flushed to zero)."""

from numba import cuda

from .. import _scalar
from ._launch import as_device, flat, grid_1d, placeholder

sgd_element = cuda.jit(device=True)(_scalar.sgd_element)
adam_element = cuda.jit(device=True)(_scalar.adam_element)


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
        buf = velocity[i] if use_momentum else param[i] - param[i]
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
    lr_, momentum_, damp_keep, weight_decay_, tiny = _scalar.sgd_scalars(
        param.dtype, lr, momentum, dampening, weight_decay
    )
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
    )


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
):
    start, stride = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, param.size, stride):
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
        param[i] = p
        m[i] = mi
        v[i] = vi


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
    scalars = _scalar.adam_scalars(
        param.dtype, step, lr, beta1, beta2, eps, weight_decay
    )
    _adam[grid_1d(param.size)](param, grad, m, v, decoupled, *scalars)
