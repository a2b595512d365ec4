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
    if type(values) is np.ndarray:  # the common case, without a call into NumPy
        return values
    try:
        return np.asarray(values)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: cannot be converted to an array ({exc})") from None


#: Dtype codes that the input kernels read as they are (uint8/16/32, int8 to
#: int64, float32, float64); others are converted first. Codes, not dtypes:
#: a membership test on a string costs nanoseconds on every predict call.
COMPACT_CODES = "BbHhIiLlqfd"


def features(x, n_features, dtype, name="x", scale=None):
    """Checked features (N, F), C-contiguous. ``scale`` None: converted to
    ``dtype``. Otherwise kept in their own dtype where the kernels read it
    (uint8 images stay 47 MB instead of a 188 MB float32 copy) and later
    converted a batch at a time, times ``scale``; the values times ``scale``
    must then fit ``dtype`` (float64 beyond float32's range would become inf).
    """
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
    if not isinstance(dtype, np.dtype):
        dtype = np.dtype(dtype)
    code = array.dtype.char
    if code == "?" and scale is not None:
        array = np.ascontiguousarray(array).view(np.uint8)
    elif scale is None or code not in COMPACT_CODES:
        array = np.ascontiguousarray(array, dtype=dtype)
    else:
        array = np.ascontiguousarray(array)
    if array.dtype.kind == "f":
        bad = count_nonfinite(array)
        if bad:
            raise ValueError(f"{name}: contains {bad} NaN or infinite values")
    if scale is not None and (
        scale > 1 or array.dtype.itemsize > dtype.itemsize and array.dtype.kind == "f"
    ):
        # the gather narrows each value to the model's dtype, then scales it
        low, high = value_range(array)
        raw = max(abs(float(low)), abs(float(high)))
        limit = float(np.finfo(dtype).max)
        if raw > limit or raw * scale > limit:
            raise ValueError(
                f"{name}: values up to {raw:.3g} (times input_scale {scale:g}) "
                f"overflow the model's {dtype}"
            )
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


def sample_weights(sample_weight, class_weight, y, n_classes, dtype, target_kind):
    """Per-sample loss weights: ``sample_weight`` (N,) times ``class_weight``
    of each sample's label ({class: weight}, classes left out weigh 1, or
    "balanced": N / (n_classes * count of the class), scikit-learn's rule).
    None when both are None. Weights must be finite, >= 0, not all 0."""
    if sample_weight is None and class_weight is None:
        return None
    n = len(y)
    weights = np.ones(n, np.float64)
    if sample_weight is not None:
        array = _as_array(sample_weight, "sample_weight")
        if array.dtype.kind not in "fiub":
            raise ValueError(
                f"sample_weight: expected real numbers, got dtype {array.dtype}"
            )
        if array.ndim != 1:
            raise ValueError(f"sample_weight: expected shape ({n},), got {array.shape}")
        _check_length("sample_weight", array, n)
        weights *= array
    if class_weight is not None:
        if target_kind != "labels":
            raise ValueError(
                "class_weight: needs integer class labels (loss='cross_entropy'); "
                "use sample_weight for other targets"
            )
        weights *= _class_weights(class_weight, y, n_classes)[y]
    weights = np.ascontiguousarray(weights)
    if count_nonfinite(weights):
        raise ValueError("sample_weight: contains NaN or infinite values")
    low, _ = value_range(weights)
    if low < 0:
        raise ValueError(f"sample_weight: weights must be >= 0, found {low}")
    with np.errstate(over="ignore"):  # overflow is reported just below
        cast = weights.astype(dtype)
    if count_nonfinite(cast):
        raise ValueError(
            f"sample_weight: weights beyond the range of {np.dtype(dtype)}"
        )
    if not cast.any():
        raise ValueError(
            "sample_weight: all weights are 0 (or too small for "
            f"{np.dtype(dtype)}); nothing to learn from"
        )
    return cast


def _class_weights(class_weight, y, n_classes):
    """A weight per class id, from a dict or "balanced"."""
    if isinstance(class_weight, str):
        if class_weight != "balanced":
            raise ValueError(
                f"class_weight: expected a dict or 'balanced', got {class_weight!r}"
            )
        counts = np.bincount(y, minlength=n_classes).astype(np.float64)
        per_class = np.ones(n_classes)
        present = counts > 0
        per_class[present] = len(y) / (np.count_nonzero(present) * counts[present])
        return per_class
    if not isinstance(class_weight, dict):
        raise ValueError(
            f"class_weight: expected a dict or 'balanced', got "
            f"{type(class_weight).__name__}"
        )
    per_class = np.ones(n_classes)
    for label, weight in class_weight.items():
        if (
            isinstance(label, bool)
            or not isinstance(label, (int, np.integer))
            or not 0 <= label < n_classes
        ):
            raise ValueError(
                f"class_weight: key {label!r} is not a class in [0, {n_classes})"
            )
        try:
            per_class[label] = float(weight)
        except (TypeError, ValueError):
            raise ValueError(
                f"class_weight[{label}]: expected a number, got {weight!r}"
            ) from None
    return per_class
