"""Scalar math shared by the CPU and CUDA kernels, written once as plain
Python and compiled for each target (``cpu_jit(f)`` and
``cuda.jit(device=True)(f)``), so the two targets cannot drift apart.

Activation codes are the integers the kernels branch on.
"""

import math

IDENTITY, RELU, LEAKY_RELU, SIGMOID, TANH = 0, 1, 2, 3, 4

#: Activation name -> integer code used inside the kernels.
ACTIVATION_CODES = {
    "identity": IDENTITY,
    "relu": RELU,
    "leaky_relu": LEAKY_RELU,
    "sigmoid": SIGMOID,
    "tanh": TANH,
}


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


def flush_subnormal(value, tiny):
    """``value``, or 0 when |value| < tiny (the dtype's smallest normal)."""
    return value if abs(value) >= tiny else value - value
