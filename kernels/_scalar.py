"""Scalar math shared by the CPU and CUDA kernels, written once as plain
Python and compiled for each target (``cpu_jit(f)`` and
``cuda.jit(device=True)(f)``), so the two targets cannot drift apart.

Activation codes are the integers the kernels branch on. Functions compiled
for a target may call only each other's compiled versions, so the shared
functions here call no other function of this module.

Subnormal flushing: optimizer state whose magnitude falls below the dtype's
smallest normal (``tiny``) is stored as 0, see ``kernels/cpu/optim.py``.
"""

import math
from functools import lru_cache

import numpy as np

IDENTITY, RELU, LEAKY_RELU, SIGMOID, TANH = 0, 1, 2, 3, 4

#: Activation name -> integer code used inside the kernels.
ACTIVATION_CODES = {
    "identity": IDENTITY,
    "relu": RELU,
    "leaky_relu": LEAKY_RELU,
    "sigmoid": SIGMOID,
    "tanh": TANH,
}


#: The smallest normal number of each dtype, looked up once (np.finfo is slow).
SMALLEST_NORMAL = {np.dtype(t): t(np.finfo(t).tiny) for t in (np.float32, np.float64)}


def activate(z, code, slope):
    """act(z) for one scalar; ``slope`` is leaky_relu's negative slope."""
    if code == RELU:
        return z if z > 0 else 0.0
    if code == LEAKY_RELU:
        return z if z > 0 else z * slope
    if code == SIGMOID:
        # Two branches so exp never overflows: exp(-|z|) <= 1.
        if z >= 0:
            return 1.0 / (1.0 + math.exp(-z))
        e = math.exp(z)
        return e / (1.0 + e)
    if code == TANH:
        return math.tanh(z)
    return z


def activate_grad(y, code, slope):
    """d act / dz for one scalar, from the output ``y = act(z)``."""
    if code == RELU:
        return 1.0 if y > 0 else 0.0
    if code == LEAKY_RELU:
        return 1.0 if y > 0 else slope
    if code == SIGMOID:
        return y * (1.0 - y)
    if code == TANH:
        return 1.0 - y * y
    return 1.0


def sgd_element(
    p,
    g,
    buf,
    has_momentum,
    first_step,
    lr,
    momentum,
    damp_keep,
    weight_decay,
    nesterov,
    tiny,
):
    """One parameter's torch.optim.SGD update; returns (new p, new momentum buffer).

    Follows torch/optim/sgd.py operation by operation: weight decay is added to
    the gradient, the buffer starts as the gradient itself on step 1 (no
    dampening), and the parameter moves by -lr times the (Nesterov) direction.
    """
    if weight_decay != 0:
        g = g + weight_decay * p  # grad.add(param, alpha=wd)
    if has_momentum:
        if first_step:
            buf = g  # torch: buf = clone(grad)
        else:
            buf = buf * momentum + damp_keep * g  # buf.mul_(m).add_(g, 1 - d)
        buf = buf if abs(buf) >= tiny else buf - buf  # flush subnormals to 0
        g = g + momentum * buf if nesterov else buf
    return p + (-lr) * g, buf  # param.add_(grad, alpha=-lr)


def adam_element(
    p,
    g,
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
    """One parameter's torch.optim.Adam/AdamW update; returns (p, m, v).

    Follows torch/optim/adam.py (single-tensor path) operation by operation.
    """
    if decoupled:
        p = p * decay_keep  # param.mul_(1 - lr * wd)
    elif weight_decay != 0:
        g = g + weight_decay * p
    # m.lerp_(g, 1 - beta1), with torch's two-sided lerp formula
    if lerp_low:
        m = m + beta1_weight * (g - m)
    else:
        m = g - (g - m) * (1 - beta1_weight)
    v = v * beta2 + beta2_keep * g * g  # v.mul_(b2).addcmul_(g, g, 1 - b2)
    m = m if abs(m) >= tiny else m - m  # flush subnormals to 0 (module docstring)
    v = v if abs(v) >= tiny else v - v
    denom = math.sqrt(v) / bias_correction2_sqrt + eps
    return p + (-step_size) * (m / denom), m, v


@lru_cache(maxsize=256)  # the same few values every step: skip the casts
def sgd_scalars(dtype, lr, momentum, dampening, weight_decay):
    """Host-side: the SGD kernels' scalars, cast to the parameter dtype as torch
    casts them: (lr, momentum, 1 - dampening, weight_decay, smallest normal)."""
    cast = np.dtype(dtype).type
    return (
        cast(lr),
        cast(momentum),
        cast(1 - dampening),
        cast(weight_decay),
        SMALLEST_NORMAL[np.dtype(dtype)],
    )


def adam_bias_corrections(step, lr, beta1, beta2):
    """(lr / (1 - beta1**step), sqrt(1 - beta2**step)) as Python floats: the
    step size and second-moment correction of Adam's step ``step``."""
    return lr / (1 - beta1**step), math.sqrt(1 - beta2**step)


def adam_scalars(dtype, step, lr, beta1, beta2, eps, weight_decay):
    """Host-side: the Adam kernels' scalars after bias correction, in the order
    ``adam_element`` takes them from ``beta1_weight`` on (``decoupled`` aside)."""
    cast = np.dtype(dtype).type
    beta1_weight = 1 - beta1
    step_size, correction = adam_bias_corrections(step, lr, beta1, beta2)
    return (
        cast(beta1_weight),
        abs(beta1_weight) < 0.5,
        cast(beta2),
        cast(1 - beta2),
        cast(eps),
        cast(weight_decay),
        cast(1 - lr * weight_decay),
        cast(step_size),
        cast(correction),
        SMALLEST_NORMAL[np.dtype(dtype)],
    )
