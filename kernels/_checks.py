"""Argument checks for the public kernel functions.

Each check raises ``TypeError`` (wrong kind of object or dtype) or
``ValueError`` (wrong shape, layout or value) naming the argument and the
expected versus actual property, so a bad call never reaches a kernel.
Works for NumPy arrays and for device arrays exposing
``__cuda_array_interface__`` (Numba, CuPy, PyTorch). ``check_buffers``
refuses output buffers that are read-only or overlap another argument.
"""

import math
import sys

import numpy as np

from ._host_scan import count_nonfinite, value_range

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
LABEL_DTYPES = (np.dtype(np.int32), np.dtype(np.int64))


def is_numba_device_array(a):
    """A Numba device array, including the CUDA simulator's (which, unlike a
    real one, has no ``__cuda_array_interface__``). Never imports a CUDA package."""
    if "numba.cuda" not in sys.modules and "numba_cuda_mlir" not in sys.modules:
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
    # "is" first: builtin dtypes are singletons, and comparing costs ~0.1 us
    if dtype is not None and a_dtype is not dtype and a_dtype != dtype:
        raise TypeError(
            f"{name}: dtype {a_dtype} does not match the other operands' {dtype}"
            " (all operands of one call share one float dtype)"
        )
    if dtype is None and a_dtype not in allowed:
        names = " or ".join(str(d) for d in allowed)
        raise TypeError(f"{name}: expected dtype {names}, got {a_dtype}")
    if shape is not None and a_shape != shape:  # the common match, without a loop
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


def check_buffers(names, arrays, n_out, in_place=()):
    """Refuse output buffers that are read-only or share memory with another array.

    ``arrays[:n_out]`` are written by the call, the rest only read (inputs may
    share memory with each other); ``names`` name them; None entries are
    skipped. ``in_place`` holds (output, input) name pairs that may be the very
    same buffer (same start; the shapes already match), for kernels that read
    each element before writing it; a partial overlap is refused even there.
    Call after ``check_array``: the test relies on C-contiguous arrays, whose
    memory is exactly the bytes [start, start + nbytes).
    """
    # Fast path: arrays whose memory NumPy allocated separately cannot overlap,
    # and finding an array's owner costs ~0.1 us, where reading its address
    # costs ~0.85 us (__array_interface__ and .ctypes build objects) and
    # np.may_share_memory ~0.2 us per pair (benchmarks/check_overhead.py).
    keys = []  # per array: id of the NumPy array owning its memory, or None
    present = 0
    for i, a in enumerate(arrays):
        key = None
        if a is not None:
            present += 1
            if type(a) is np.ndarray:
                base = a.base  # NumPy collapses view chains to the owner
                if base is None:
                    flags = a.flags
                    if i < n_out and not flags.writeable:
                        _refuse_read_only(names[i])
                    if flags.owndata:
                        key = id(a)
                else:
                    if i < n_out and not a.flags.writeable:
                        _refuse_read_only(names[i])
                    if type(base) is np.ndarray and base.flags.owndata:
                        key = id(base)
        keys.append(key)
    owners = set(keys)
    owners.discard(None)
    if len(owners) != present:
        _check_overlaps(names, arrays, n_out, in_place, keys)


def _refuse_read_only(name):
    raise ValueError(f"{name}: is read-only; pass a writeable array")


def _check_overlaps(names, arrays, n_out, in_place, keys):
    """The exact test, for what the fast path could not clear: arrays sharing a
    NumPy owner, and memory of other owners (device arrays, bytes, mmap, a
    Numba MemInfo) against everything."""
    n = len(arrays)
    foreign = [k for k in range(n) if keys[k] is None and arrays[k] is not None]
    device = {}  # index -> address range of a device array (None: unknown)
    for k in foreign:
        a = arrays[k]
        if not isinstance(a, np.ndarray):
            device[k] = _device_memory(names[k], a, written=k < n_out)
        elif k < n_out and not a.flags.writeable:
            _refuse_read_only(names[k])  # an ndarray subclass: np.memmap...
    for i in range(n_out):
        a, key = arrays[i], keys[i]
        if a is None or (not foreign and keys.count(key) == 1):
            continue
        # against the inputs, then the outputs before it: each pair once
        others = (*range(n_out, n), *range(i))
        if not foreign:  # only arrays of the same NumPy owner can overlap
            others = [j for j in others if keys[j] == key]
        for j in others:
            b = arrays[j]
            if b is None or (key != keys[j] and None not in (key, keys[j])):
                continue  # two separate NumPy allocations
            allowed = (names[i], names[j]) in in_place
            if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
                # a bounds check, exact for C-contiguous arrays
                if not np.may_share_memory(a, b):
                    continue
                same = allowed and (a is b or _host_memory(a) == _host_memory(b))
            elif isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
                continue  # host against device: target_for refuses the mix
            else:
                mine, theirs = device[i], device[j]
                if mine is None or theirs is None or mine[0] != theirs[0]:
                    continue  # unknown, or different address spaces
                if mine[2] <= theirs[1] or theirs[2] <= mine[1]:
                    continue
                same = mine == theirs
            if allowed and same:
                continue
            raise ValueError(
                f"{names[i]}: must not share memory with {names[j]}"
                + (", except as the very same buffer (in place)" if allowed else "")
            )


def _host_memory(a):
    """(start, stop) address range of a C-contiguous host array's bytes."""
    start = a.__array_interface__["data"][0]
    return start, start + a.nbytes


def _device_memory(name, a, written):
    """(space, start, stop) of a C-contiguous device array's bytes, or None
    where its address cannot be read; refuses a read-only output."""
    cai = getattr(a, "__cuda_array_interface__", None)
    if cai is not None:
        start, read_only = cai["data"]
        if written and read_only:
            _refuse_read_only(name)
        size = math.prod(cai["shape"]) * np.dtype(cai["typestr"]).itemsize
        return "cuda", start, start + size
    # The CUDA simulator's arrays have no device address: each wraps a host
    # array, whose addresses stand in for it. Read from __dict__: a missing
    # attribute would recurse through the simulator's __getattr__.
    host = getattr(a, "__dict__", {}).get("_ary") if is_numba_device_array(a) else None
    if not isinstance(host, np.ndarray):
        return None  # nothing to compare: skipped
    return ("simulator", *_host_memory(host))


def check_nonnegative(name, a):
    """Every value of the host array ``a`` finite and >= 0 (weights)."""
    bad = count_nonfinite(a)
    if bad:
        raise ValueError(f"{name}: must be finite, got {bad} NaN or infinite values")
    low, _ = value_range(a)
    if low < 0:
        raise ValueError(f"{name}: must be >= 0, got a value of {low}")


def check_unit_interval(name, a):
    """Every value of the host array ``a`` in [0, 1]; two compiled passes, no
    temporaries (NaN compares false, so value_range alone would miss it)."""
    bad = count_nonfinite(a)
    if bad:
        raise ValueError(f"{name}: values must be in [0, 1], got {bad} NaN or infinite")
    low, high = value_range(a)
    if low < 0 or high > 1:
        raise ValueError(
            f"{name}: values must be in [0, 1], got some in [{low}, {high}]"
        )


def check_scalar(name, value, low=None, high=None, low_open=False, high_open=False):
    """A finite real number within [low, high] (open ends where asked)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name}: expected a real number, got {value!r}") from None
    except OverflowError:  # an int beyond float range, e.g. 10**400
        number = math.inf
    if not math.isfinite(number):  # np.isfinite on a float costs ~0.3 us more
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
