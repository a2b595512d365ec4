"""Checking and converting user data for fit/evaluate/predict.

Features: anything ``numpy.asarray`` accepts (arrays, lists), 2-D (N, F), of
a real numeric dtype; converted to the model's dtype (float32 by default).
Labels for cross-entropy: integer-valued, in [0, n_classes). Targets for
mse/binary_cross_entropy: real values shaped like the model output ((N,) is
accepted for one output). Each problem raises ValueError naming it.
"""

import numpy as np

from fastnn.kernels._host_scan import count_nonfinite, value_range


def _as_array(values, name):
    try:
        return np.asarray(values)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: cannot be converted to an array ({exc})") from None


def features(x, n_features, dtype, name="x"):
    array = _as_array(x, name)
    if array.dtype.kind not in "fiub":
        raise ValueError(f"{name}: expected real numbers, got dtype {array.dtype}")
    if array.ndim == 1 and n_features == array.shape[0]:
        raise ValueError(
            f"{name}: got one sample of shape {array.shape}; pass a batch of shape "
            f"(1, {n_features}) (e.g. x[None, :])"
        )
    if array.ndim != 2:
        raise ValueError(
            f"{name}: expected a 2-D array (samples, features), got shape {array.shape}"
        )
    if array.shape[0] == 0:
        raise ValueError(f"{name}: is empty (0 samples)")
    if array.shape[1] != n_features:
        raise ValueError(
            f"{name}: has {array.shape[1]} features per sample but the model expects "
            f"{n_features}"
        )
    array = np.ascontiguousarray(array, dtype=dtype)
    bad = count_nonfinite(array)
    if bad:
        raise ValueError(f"{name}: contains {bad} NaN or infinite values")
    return array


def labels(y, n_samples, n_classes, name="y"):
    array = _as_array(y, name)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise ValueError(
            f"{name}: expected integer class labels of shape ({n_samples},), got shape "
            f"{array.shape} (one-hot targets: pass labels = y.argmax(1))"
        )
    _check_length(name, array, n_samples)
    if array.dtype.kind == "f":
        if not np.isfinite(array).all() or np.any(array != np.round(array)):
            raise ValueError(f"{name}: class labels must be whole numbers")
    elif array.dtype.kind not in "iub":
        raise ValueError(
            f"{name}: expected integer class labels, got dtype {array.dtype}"
        )
    array = np.ascontiguousarray(array, dtype=np.int64)
    low, high = value_range(array)
    if low < 0 or high >= n_classes:
        raise ValueError(
            f"{name}: labels must be in [0, {n_classes}) for a model with "
            f"{n_classes} outputs; found values in [{low}, {high}]"
        )
    return np.ascontiguousarray(array)


def targets(y, n_samples, n_outputs, dtype, name="y", value_range_=None):
    """Float targets shaped (N, O); ``value_range_`` = (low, high) bounds them
    (binary cross-entropy needs probabilities: outside [0, 1] its loss goes
    negative and training is silently wrong)."""
    array = _as_array(y, name)
    if array.dtype.kind not in "fiub":
        raise ValueError(f"{name}: expected real numbers, got dtype {array.dtype}")
    if array.ndim == 1 and n_outputs == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[1] != n_outputs:
        raise ValueError(
            f"{name}: expected targets of shape ({n_samples}, {n_outputs}), got "
            f"{array.shape}"
        )
    _check_length(name, array, n_samples)
    array = np.ascontiguousarray(array, dtype=dtype)
    if count_nonfinite(array):
        raise ValueError(f"{name}: contains NaN or infinite values")
    if value_range_ is not None:
        low, high = value_range(array)
        if low < value_range_[0] or high > value_range_[1]:
            raise ValueError(
                f"{name}: targets must be in [{value_range_[0]}, {value_range_[1]}] "
                f"for this loss; found values in [{low}, {high}]"
            )
    return array


def _check_length(name, array, n_samples):
    if array.shape[0] != n_samples:
        raise ValueError(f"{name}: has {array.shape[0]} samples but x has {n_samples}")


def batch_size(value, n_samples):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"batch_size: expected a positive int, got {value!r}")
    return min(int(value), n_samples)
