"""Slow, obviously correct float64 references for every kernel, and the
per-dtype tolerances every comparison uses.

The formulas are written out from their definitions, not shared with the
kernels; their own gradients are checked against finite differences in
tests/kernels/test_reference.py.
"""

import numpy as np

#: Relative tolerance (to the largest reference magnitude) per dtype.
TOLERANCE = {np.float32: 2e-5, np.float64: 1e-11}
#: float32 products over long dot products (K up to 784) round more.
TOLERANCE_LONG_SUMS = {np.float32: 1e-4, np.float64: 1e-10}


def assert_close(actual, expected, dtype, tolerances=TOLERANCE):
    """max |actual - expected| <= tol * max(1, max |expected|), NaN-free."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    assert np.all(np.isfinite(actual)), "non-finite values in the result"
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    error = float(np.max(np.abs(actual - expected), initial=0.0))
    tol = tolerances[np.dtype(dtype).type] * scale
    assert error <= tol, f"max error {error:.3g} > {tol:.3g}"


def activation(name, z, slope=0.01):
    z = np.asarray(z, dtype=np.float64)
    if name == "identity":
        return z.copy()
    if name == "relu":
        return np.where(z > 0, z, 0.0)
    if name == "leaky_relu":
        return np.where(z > 0, z, slope * z)
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    if name == "tanh":
        return np.tanh(z)
    raise ValueError(name)


def activation_derivative(name, z, slope=0.01):
    """d act / dz at the pre-activation z."""
    z = np.asarray(z, dtype=np.float64)
    if name == "identity":
        return np.ones_like(z)
    if name == "relu":
        return (z > 0).astype(np.float64)
    if name == "leaky_relu":
        return np.where(z > 0, 1.0, slope)
    if name == "sigmoid":
        s = 1.0 / (1.0 + np.exp(-z))
        return s * (1.0 - s)
    if name == "tanh":
        return 1.0 - np.tanh(z) ** 2
    raise ValueError(name)


def dense_forward(x, w, b, name, slope=0.01):
    z = np.asarray(x, np.float64) @ np.asarray(w, np.float64)
    if b is not None:
        z = z + np.asarray(b, np.float64)
    return z, activation(name, z, slope)


def dense_backward(x, w, z, dout, name, slope=0.01):
    """(dx, dw, db) given the pre-activation z."""
    x, w, dout = (np.asarray(a, np.float64) for a in (x, w, dout))
    dz = dout * activation_derivative(name, z, slope)
    return dz @ w.T, x.T @ dz, dz.sum(axis=0)


def softmax(x):
    x = np.asarray(x, np.float64)
    shifted = x - x.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)


def log_softmax(x):
    x = np.asarray(x, np.float64)
    shifted = x - x.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def _row_weights(sample_weight, shape):
    """Each element's weight: its row's (first axis) sample weight, or 1."""
    if sample_weight is None:
        return np.ones(shape)
    w = np.asarray(sample_weight, np.float64)
    return np.broadcast_to(w.reshape((-1,) + (1,) * (len(shape) - 1)), shape)


def softmax_cross_entropy(logits, labels, sample_weight=None):
    """(loss, dlogits): sum over rows of w_i * -log softmax(logits)[label],
    divided by the number of rows (w_i = 1 without weights)."""
    rows = logits.shape[0]
    w = _row_weights(sample_weight, (rows,))
    logp = log_softmax(logits)
    loss = -(w * logp[np.arange(rows), labels]).sum() / rows
    onehot = np.zeros_like(logp)
    onehot[np.arange(rows), labels] = 1.0
    return loss, w[:, None] * (np.exp(logp) - onehot) / rows


def mse(pred, target, sample_weight=None):
    diff = np.asarray(pred, np.float64) - np.asarray(target, np.float64)
    w = _row_weights(sample_weight, diff.shape)
    return np.sum(w * diff**2) / diff.size, 2.0 * w * diff / diff.size


def binary_cross_entropy_with_logits(logits, target, sample_weight=None):
    x = np.asarray(logits, np.float64)
    t = np.asarray(target, np.float64)
    w = _row_weights(sample_weight, x.shape)
    # -[t log s + (1 - t) log(1 - s)], s = sigmoid(x), via logaddexp for range
    loss = t * np.logaddexp(0.0, -x) + (1 - t) * np.logaddexp(0.0, x)
    sig = 1.0 / (1.0 + np.exp(-x))
    return np.sum(w * loss) / x.size, w * (sig - t) / x.size


def numerical_gradient(f, x, h=1e-6):
    """Central finite differences of scalar f at float64 array x."""
    grad = np.zeros_like(x, dtype=np.float64)
    flat, g = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        keep = flat[i]
        flat[i] = keep + h
        up = f()
        flat[i] = keep - h
        down = f()
        flat[i] = keep
        g[i] = (up - down) / (2 * h)
    return grad
