"""Weight initializers: functions (rng, fan_in, fan_out, shape, dtype) -> array.

Defaults per activation (``default_for``): He (Kaiming) normal for ReLU and
LeakyReLU, which keeps activation variance constant through ReLU layers (He et
al. 2015); Xavier (Glorot) uniform for sigmoid, tanh and linear layers (Glorot
& Bengio 2010). Biases start at zero.
"""

import numpy as np


def he_normal(rng, fan_in, fan_out, shape, dtype):
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(dtype)


def xavier_uniform(rng, fan_in, fan_out, shape, dtype):
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, shape).astype(dtype)


def normal(rng, fan_in, fan_out, shape, dtype, std=0.01):
    return (rng.standard_normal(shape) * std).astype(dtype)


def zeros(rng, fan_in, fan_out, shape, dtype):
    return np.zeros(shape, dtype)


INITIALIZERS = {
    "he": he_normal,
    "xavier": xavier_uniform,
    "normal": normal,
    "zeros": zeros,
}


def default_for(activation):
    """'he' for relu-like activations, 'xavier' otherwise."""
    return "he" if activation in ("relu", "leaky_relu") else "xavier"


def get(name):
    if name not in INITIALIZERS:
        raise ValueError(
            f"init: unknown {name!r}; expected one of {tuple(INITIALIZERS)}"
        )
    return INITIALIZERS[name]
