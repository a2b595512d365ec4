"""Weight initializers: functions (rng, fan_in, fan_out, shape, dtype) -> array.

Defaults per activation (``default_for``): He (Kaiming) normal for ReLU and
LeakyReLU, which keeps activation variance constant through ReLU layers (He et
al. 2015); Xavier (Glorot) uniform for sigmoid, tanh and linear layers (Glorot
& Bengio 2010). Biases start at zero.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import numpy.typing as npt

#: What every initializer is: (rng, fan_in, fan_out, shape, dtype) -> array.
Initializer = Callable[..., npt.NDArray[Any]]


def he_normal(
    rng: np.random.Generator,
    fan_in: int,
    fan_out: int,
    shape: tuple[int, ...],
    dtype: npt.DTypeLike,
) -> npt.NDArray[Any]:
    """He (Kaiming) normal: N(0, 2 / fan_in), for ReLU-like activations.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of the random values.
    fan_in, fan_out : int
        Inputs and outputs of the layer (``I`` and ``O``).
    shape : tuple of int
        Shape of the array, ``(I, O)`` for a Dense weight.
    dtype : numpy dtype
        dtype of the array (float32 or float64).

    Returns
    -------
    numpy.ndarray
        The initial values, of ``shape`` and ``dtype``.
    """
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(dtype)


def xavier_uniform(
    rng: np.random.Generator,
    fan_in: int,
    fan_out: int,
    shape: tuple[int, ...],
    dtype: npt.DTypeLike,
) -> npt.NDArray[Any]:
    """Xavier (Glorot) uniform: U(-a, a), a = sqrt(6 / (fan_in + fan_out)).

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of the random values.
    fan_in, fan_out : int
        Inputs and outputs of the layer (``I`` and ``O``).
    shape : tuple of int
        Shape of the array, ``(I, O)`` for a Dense weight.
    dtype : numpy dtype
        dtype of the array (float32 or float64).

    Returns
    -------
    numpy.ndarray
        The initial values, of ``shape`` and ``dtype``.
    """
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, shape).astype(dtype)


def normal(
    rng: np.random.Generator,
    fan_in: int,
    fan_out: int,
    shape: tuple[int, ...],
    dtype: npt.DTypeLike,
    std: float = 0.01,
) -> npt.NDArray[Any]:
    """Normal N(0, std**2), whatever the fan-in and fan-out.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of the random values.
    fan_in, fan_out : int
        Inputs and outputs of the layer (``I`` and ``O``).
    shape : tuple of int
        Shape of the array, ``(I, O)`` for a Dense weight.
    dtype : numpy dtype
        dtype of the array (float32 or float64).
    std : float, default 0.01
        Standard deviation.

    Returns
    -------
    numpy.ndarray
        The initial values, of ``shape`` and ``dtype``.
    """
    return (rng.standard_normal(shape) * std).astype(dtype)


def zeros(
    rng: np.random.Generator,
    fan_in: int,
    fan_out: int,
    shape: tuple[int, ...],
    dtype: npt.DTypeLike,
) -> npt.NDArray[Any]:
    """All zeros (``rng`` and the fans are not used).

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of the random values.
    fan_in, fan_out : int
        Inputs and outputs of the layer (``I`` and ``O``).
    shape : tuple of int
        Shape of the array, ``(I, O)`` for a Dense weight.
    dtype : numpy dtype
        dtype of the array (float32 or float64).

    Returns
    -------
    numpy.ndarray
        The initial values, of ``shape`` and ``dtype``.
    """
    return np.zeros(shape, dtype)


INITIALIZERS: dict[str, Initializer] = {
    "he": he_normal,
    "xavier": xavier_uniform,
    "normal": normal,
    "zeros": zeros,
}


def default_for(activation: str | None) -> str:
    """The default initializer's name for a Dense layer's activation.

    Parameters
    ----------
    activation : str or None
        The activation fused into the layer (None: linear).

    Returns
    -------
    str
        ``"he"`` for relu-like activations, ``"xavier"`` otherwise.
    """
    return "he" if activation in ("relu", "leaky_relu") else "xavier"


def get(name: str) -> Initializer:
    """The initializer function called ``name``.

    Parameters
    ----------
    name : str
        One of ``"he"``, ``"xavier"``, ``"normal"``, ``"zeros"``.

    Returns
    -------
    callable
        The function (see ``INITIALIZERS``).

    Raises
    ------
    ValueError
        For an unknown name.
    """
    if name not in INITIALIZERS:
        raise ValueError(
            f"init: unknown {name!r}; expected one of {tuple(INITIALIZERS)}"
        )
    return INITIALIZERS[name]
