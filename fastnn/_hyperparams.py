"""Checks for optimizer and schedule hyperparameters.

The same rules everywhere: a real number is finite and not a bool or a string
(``check_scalar`` would read ``True`` as 1 and ``"0.1"`` as 0.1); an int is a
real int, not a bool and not 2.5. Errors name the argument.
"""

import numpy as np

from fastnn.kernels._checks import check_scalar


def real(name, value, low=None, high=None, low_open=False, high_open=False):
    """A finite float within the bounds (see ``check_scalar``)."""
    if isinstance(value, (bool, np.bool_, str, bytes)):
        raise TypeError(f"{name}: expected a real number, got {value!r}")
    return check_scalar(name, value, low, high, low_open, high_open)


def whole(name, value, low):
    """An int >= low (NumPy ints too), as a Python int."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: expected an int, got {value!r}")
    if value < low:
        raise ValueError(f"{name}: must be >= {low}, got {value!r}")
    return int(value)


def flag(name, value):
    """True or False (NumPy bools too): ``bool("no")`` would be True."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected True or False, got {value!r}")
    return bool(value)
