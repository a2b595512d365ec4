"""One-pass scans of host arrays used by input checks, without temporaries
(``np.isfinite(x).all()`` allocates a boolean array as large as x)."""

import math

from ._jit import cpu_jit


@cpu_jit
def count_nonfinite(values):
    """Number of NaN or infinite entries of a C-contiguous float array."""
    flat = values.reshape(values.size)
    bad = 0
    for i in range(flat.size):
        bad += not math.isfinite(flat[i])
    return bad


@cpu_jit
def value_range(values):
    """(min, max) of a non-empty C-contiguous array in one pass."""
    flat = values.reshape(values.size)
    low = high = flat[0]
    for i in range(1, flat.size):
        v = flat[i]
        if v < low:
            low = v
        elif v > high:
            high = v
    return low, high
