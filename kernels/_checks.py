"""Argument checks for the public kernel functions.

Each check raises ``TypeError`` (wrong kind of object or dtype) or
``ValueError`` (wrong shape, layout or value) naming the argument and the
expected versus actual property, so a bad call never reaches a kernel.
Works for NumPy arrays and for device arrays exposing
``__cuda_array_interface__`` (Numba, CuPy, PyTorch).
"""

import sys

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
LABEL_DTYPES = (np.dtype(np.int32), np.dtype(np.int64))


def is_numba_device_array(a):
    """A Numba device array, including the CUDA simulator's (which, unlike a
    real one, has no ``__cuda_array_interface__``). Never imports numba.cuda."""
    cuda = sys.modules.get("numba.cuda")
    if cuda is None:
        return False
    return type(a).__name__ in ("DeviceNDArray", "FakeCUDAArray", "MappedNDArray")


def on_device(a):
    """True for CUDA device arrays (Numba, CuPy, PyTorch CUDA tensors)."""
    return hasattr(a, "__cuda_array_interface__") or is_numba_device_array(a)


def array_props(name, a):
    """(shape, dtype, c_contiguous) of a host or device array, or TypeError."""
    if isinstance(a, np.ndarray):
        return a.shape, a.dtype, a.flags.c_contiguous
    cai = getattr(a, "__cuda_array_interface__", None)
    if cai is None and is_numba_device_array(a):
        return tuple(a.shape), np.dtype(a.dtype), bool(a.is_c_contiguous())
    if cai is None:
        raise TypeError(
            f"{name}: expected a numpy.ndarray or a CUDA device array, "
            f"got {type(a).__name__}"
        )
    shape = tuple(cai["shape"])
    dtype = np.dtype(cai["typestr"])
    strides = cai.get("strides")
    if strides is None:
        return shape, dtype, True
    expected, step = [], dtype.itemsize
    for extent in reversed(shape):
        expected.append(step)
        step *= extent
    contiguous = all(
        s == e for s, e, n in zip(strides, reversed(expected), shape) if n > 1
    )
    return shape, dtype, contiguous


def check_array(name, a, ndim=None, dtype=None, shape=None, allowed=FLOAT_DTYPES):
    """Check one array; return its (shape, dtype).

    ``dtype`` is the dtype it must share with the other operands; otherwise it
    must be one of ``allowed``. ``shape`` entries of None match any extent.
    """
    a_shape, a_dtype, contiguous = array_props(name, a)
    if ndim is not None and len(a_shape) != ndim:
        raise ValueError(
            f"{name}: expected a {ndim}-D array, got {len(a_shape)}-D shape {a_shape}"
        )
    if dtype is not None and a_dtype != dtype:
        raise TypeError(
            f"{name}: dtype {a_dtype} does not match the other operands' {dtype}"
            " (all operands of one call share one float dtype)"
        )
    if dtype is None and a_dtype not in allowed:
        names = " or ".join(str(d) for d in allowed)
        raise TypeError(f"{name}: expected dtype {names}, got {a_dtype}")
    if shape is not None:
        wanted = tuple(shape)
        if len(wanted) != len(a_shape) or any(
            w is not None and w != s for w, s in zip(wanted, a_shape)
        ):
            shown = "(" + ", ".join("*" if w is None else str(w) for w in wanted)
            shown += ",)" if len(wanted) == 1 else ")"
            raise ValueError(f"{name}: expected shape {shown}, got {a_shape}")
    if not contiguous:
        raise ValueError(f"{name}: must be C-contiguous (use numpy.ascontiguousarray)")
    return a_shape, a_dtype


def check_not_empty(name, shape):
    if 0 in shape:
        raise ValueError(
            f"{name}: empty array of shape {tuple(shape)}; need at least one element per axis"
        )


def check_no_overlap(out_name, out, *inputs):
    """An output buffer that overlaps an input would give garbage from BLAS."""
    if not isinstance(out, np.ndarray):
        return
    for in_name, a in inputs:
        if isinstance(a, np.ndarray) and np.may_share_memory(out, a):
            raise ValueError(f"{out_name}: must not share memory with {in_name}")


def check_scalar(name, value, low=None, high=None, low_open=False, high_open=False):
    """A finite real number within [low, high] (open ends where asked)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name}: expected a real number, got {value!r}") from None
    if not np.isfinite(number):
        raise ValueError(f"{name}: must be finite, got {value!r}")
    too_low = low is not None and (number <= low if low_open else number < low)
    too_high = high is not None and (number >= high if high_open else number > high)
    if too_low or too_high:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        raise ValueError(
            f"{name}: must be in {left}{low if low is not None else '-inf'}, "
            f"{high if high is not None else 'inf'}{right}, got {value!r}"
        )
    return number


def check_step(step):
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 1:
        raise ValueError(
            f"step: expected an int >= 1 (steps count from 1), got {step!r}"
        )
    return int(step)
