"""The network behind ``fastnn.sklearn``: parameters in one flat vector,
forward and backward passes through fastnn's CPU kernels.

The flat vector is laid out as scikit-learn packs it for L-BFGS: every
layer's weights (I, O) row-major, then every layer's biases. ``coefs_`` and
``intercepts_`` are views of it, so an optimizer step is one kernel pass
over the whole vector and L-BFGS reads and writes it without copies.

Losses and their gradients follow ``sklearn.neural_network``: the output
activation (softmax, logistic, identity or exp) is paired with its canonical
loss, so the gradient at the output is ``activation - y``; the L2 penalty
``0.5 * alpha * sum(W**2)`` and every gradient are divided by the sum of the
sample weights (the row count without weights). The output layer's activation
and loss run in NumPy: they touch B x n_outputs values, while the kernels do
the matrix products.
"""

import numpy as np
import scipy.sparse as sp
from scipy.special import expit, xlogy

from fastnn.kernels import cpu as kernels
from fastnn.kernels.cpu import sklearn_mlp as fused
from fastnn.kernels.cpu.activations import ACTIVATION_CODES
from fastnn.kernels.cpu.epoch import stack_loss_step

#: scikit-learn's hidden activation names -> fastnn kernel activations.
KERNEL_ACTIVATIONS = {
    "identity": "identity",
    "logistic": "sigmoid",
    "tanh": "tanh",
    "relu": "relu",
}

#: The labels argument of ``stack_loss_step`` for outputs that read none.
_NO_LABELS = np.empty(0, np.intp)

#: Rows per forward pass in ``predict``: bounds the activation memory.
PREDICT_CHUNK = 4096


class Layout:
    """Where each layer's weights and biases live in the flat vector."""

    def __init__(self, layer_units):
        self.layer_units = list(layer_units)
        pairs = list(zip(self.layer_units[:-1], self.layer_units[1:]))
        self.coef_slices, self.intercept_slices = [], []
        start = 0
        for fan_in, fan_out in pairs:
            self.coef_slices.append(
                (slice(start, start + fan_in * fan_out), (fan_in, fan_out))
            )
            start += fan_in * fan_out
        self.n_coef = start  # the L2 penalty covers [0, n_coef)
        for _, fan_out in pairs:
            self.intercept_slices.append(slice(start, start + fan_out))
            start += fan_out
        self.size = start

    def views(self, flat):
        """(coefs, intercepts): lists of views of ``flat``."""
        coefs = [flat[s].reshape(shape) for s, shape in self.coef_slices]
        intercepts = [flat[s] for s in self.intercept_slices]
        return coefs, intercepts

    def pack(self, coefs, intercepts, dtype):
        """A new flat vector holding ``coefs`` and ``intercepts``."""
        flat = np.empty(self.size, dtype)
        for (s, _), coef in zip(self.coef_slices, coefs):
            flat[s] = np.asarray(coef).reshape(-1)
        for s, intercept in zip(self.intercept_slices, intercepts):
            flat[s] = intercept
        return flat


def init_parameters(layer_units, activation, rng, dtype):
    """Glorot-uniform weights and biases, drawn as scikit-learn draws them:
    per layer the weights then the biases, from U(-bound, bound) with
    bound = sqrt(6 / (fan_in + fan_out)) (2 instead of 6 for logistic), in
    float64 then cast to ``dtype``."""
    factor = 2.0 if activation == "logistic" else 6.0
    coefs, intercepts = [], []
    for fan_in, fan_out in zip(layer_units[:-1], layer_units[1:]):
        bound = np.sqrt(factor / (fan_in + fan_out))
        coefs.append(rng.uniform(-bound, bound, (fan_in, fan_out)).astype(dtype))
        intercepts.append(rng.uniform(-bound, bound, fan_out).astype(dtype))
    return coefs, intercepts


def dense_rows(X, dtype):
    """Rows of X as a C-contiguous dense array of ``dtype`` (sparse input is
    densified here, one batch or chunk at a time)."""
    if sp.issparse(X):
        X = X.toarray()
    return np.ascontiguousarray(X, dtype=dtype)


def output_activation(name, z):
    """Apply scikit-learn's output activation to ``z`` in place."""
    if name == "softmax":
        z -= z.max(axis=1, keepdims=True)
        np.exp(z, out=z)
        z /= z.sum(axis=1, keepdims=True)
    elif name == "logistic":
        expit(z, out=z)
    elif name == "exp":
        np.exp(z, out=z)


def data_loss(name, y, p, sample_weight):
    """scikit-learn's loss of outputs ``p`` against targets ``y`` (2-D),
    averaged over samples with ``sample_weight``."""
    if name == "squared_error":
        return 0.5 * np.average((y - p) ** 2, weights=sample_weight, axis=0).mean()
    if name == "poisson":
        terms = xlogy(y, y / p) - y + p
        return np.average(terms, weights=sample_weight, axis=0).sum()
    eps = np.finfo(p.dtype).eps
    p = np.clip(p, eps, 1 - eps)
    if name == "binary_log_loss":
        terms = xlogy(y, p) + xlogy(1 - y, 1 - p)
    else:  # log_loss: softmax outputs, or one logistic output for two classes
        if p.shape[1] == 1:
            p = np.append(1 - p, p, axis=1)
            y = np.append(1 - y, y, axis=1)
        terms = xlogy(y, p)
    return -np.average(terms, weights=sample_weight, axis=0).sum()


class Network:
    """A multi-layer perceptron over a flat parameter vector.

    ``hidden``: scikit-learn activation name of the hidden layers; ``out``:
    output activation; ``loss``: loss name as in ``data_loss``. Activation
    buffers are kept between batches and regrown for a larger one.
    """

    def __init__(self, layout, hidden, out, loss, alpha):
        self.layout = layout
        self.hidden = KERNEL_ACTIVATIONS[hidden]
        self.out = out
        self.loss = loss
        self.alpha = float(alpha)
        self._rows = 0
        self._acts = self._deltas = None
        self._flat = self._flat_views = None
        self._grad = self._grad_views_cache = None
        layers = len(self.layout.coef_slices)
        self._codes = np.array(
            [ACTIVATION_CODES[self._kernel_activation(i)] for i in range(layers)],
            np.int64,
        )
        self._slopes = np.zeros(layers)

    def _kernel_activation(self, layer):
        return "identity" if layer == len(self.layout.coef_slices) - 1 else self.hidden

    def _buffers(self, rows, dtype):
        if self._acts is None or self._rows < rows or self._acts[0].dtype != dtype:
            units = self.layout.layer_units[1:]
            self._acts = [np.empty((rows, u), dtype) for u in units]
            self._deltas = [np.empty((rows, u), dtype) for u in units]
            self._rows = rows
        return [a[:rows] for a in self._acts], [d[:rows] for d in self._deltas]

    def _views(self, flat):
        # per-layer views are built once per parameter vector, not per batch
        if self._flat is not flat:
            self._flat, self._flat_views = flat, self.layout.views(flat)
        return self._flat_views

    def forward(self, flat, X, acts):
        """Fill ``acts`` (one buffer per layer) for dense input X; the last
        holds the output activation."""
        coefs, intercepts = self._views(flat)
        inputs = X
        for i, (w, b) in enumerate(zip(coefs, intercepts)):
            kernels.dense_forward(inputs, w, b, acts[i], self._kernel_activation(i))
            inputs = acts[i]
        output_activation(self.out, acts[-1])

    def backprop(self, flat, grad, X, Y, sample_weight=None, fused=False):
        """The data loss on the batch (X, Y) at parameters ``flat`` and its
        gradient, without the L2 term, written into ``grad`` (same layout);
        returns (loss, sum of sample weights). X dense, C order, of
        ``flat``'s dtype; Y (B, n_outputs). ``fused``: for the outputs of
        ``fused_output``, one kernel call, whose log-loss is not clipped (see
        ``_fused_backprop``);
        L-BFGS, whose line search compares loss values, keeps the clipped
        one."""
        rows = X.shape[0]
        acts, deltas = self._buffers(rows, flat.dtype)
        if fused and self.fused_output(Y):
            return self._fused_backprop(flat, grad, X, Y, sample_weight, acts, deltas)
        self.forward(flat, X, acts)
        loss = data_loss(self.loss, Y, acts[-1], sample_weight)
        w_sum = rows if sample_weight is None else float(sample_weight.sum())

        # dL/dz at the output is (activation - y) for each canonical pair; the
        # division by the weight sum is applied once here, and carries through
        # the backward pass by linearity.
        delta = deltas[-1]
        np.subtract(acts[-1], Y, out=delta)
        if sample_weight is not None:
            delta *= sample_weight.reshape(-1, 1)
        delta *= 1.0 / w_sum
        coefs, _ = self._views(flat)
        dcoefs, dintercepts = self.layout.views(grad)
        for i in range(len(coefs) - 1, -1, -1):
            layer_in = X if i == 0 else acts[i - 1]
            dx = None if i == 0 else deltas[i - 1]
            kernels.dense_backward(
                layer_in,
                coefs[i],
                acts[i],
                deltas[i],
                dx,
                dcoefs[i],
                dintercepts[i],
                self._kernel_activation(i),
            )
        return loss, w_sum

    def fused_output(self, Y):
        """Whether batches with targets Y take one fused kernel call:
        softmax outputs with log-loss, one logistic output with log-loss
        (binary classification), or identity outputs with squared error."""
        if self.loss == "squared_error":
            return self.out == "identity"
        if self.loss != "log_loss":
            return False
        return self.out == "softmax" or (self.out == "logistic" and Y.shape[1] == 1)

    def output_kind(self):
        """``kernels.cpu.sklearn_mlp``'s code of the fused output."""
        if self.out == "logistic":
            return fused.LOGISTIC
        return fused.SQUARED if self.out == "identity" else fused.SOFTMAX

    def stack(self, flat, grad, acts, deltas):
        """The fused kernels' tuples for parameters ``flat``, gradient
        ``grad`` and one batch's buffers."""
        coefs, intercepts = self._views(flat)
        dcoefs, dintercepts = self._grad_views(grad)
        return (
            tuple(coefs),
            tuple(intercepts),
            tuple(acts),
            tuple(deltas),
            tuple(dcoefs),
            tuple(dintercepts),
            self._codes,
            self._slopes,
        )

    def _fused_backprop(self, flat, grad, X, Y, sample_weight, acts, deltas):
        """``backprop`` for the fused outputs (``fused_output``): forward,
        loss and backward in one kernel call (the per-call overhead of
        separate kernels and NumPy passes dominates small networks). The
        squared error is scikit-learn's to rounding; the log-losses,
        log-sum-exp minus the true class's logit and
        max(z, 0) - z y + log(1 + exp(-|z|)), equal scikit-learn's
        -log(clip(p, eps, 1 - eps)) except on rows fitted to within eps
        (p > 1 - eps: a loss below 1.2e-16 instead of at it) or missed by
        more (p < eps: above 36 instead of at it)."""
        rows = X.shape[0]
        w_sum = rows if sample_weight is None else float(sample_weight.sum())
        row_weights = None
        if sample_weight is not None:  # the kernels average w_i l_i over rows
            row_weights = np.asarray(sample_weight, flat.dtype) * (rows / w_sum)
        stack = self.stack(flat, grad, acts, deltas)
        kind = self.output_kind()
        # softmax reads labels from the one-hot rows (LabelBinarizer), the
        # others read Y itself
        labels = Y.argmax(axis=1) if kind == fused.SOFTMAX else _NO_LABELS
        loss = stack_loss_step(X, labels, Y, stack, kind, row_weights)
        if not np.isfinite(loss):
            # the fused kernels stop before the backward pass; scikit-learn
            # carries the overflow into the weights (and then raises), so
            # this batch goes through the separate kernels as there
            return self.backprop(flat, grad, X, Y, sample_weight)
        return loss, w_sum

    def _grad_views(self, grad):
        if self._grad is not grad:
            self._grad, self._grad_views_cache = grad, self.layout.views(grad)
        return self._grad_views_cache

    def regularised(self, loss, squares, w_sum):
        """``loss`` plus the L2 penalty, from the sum of squared weights."""
        return float(loss + 0.5 * self.alpha * float(squares) / w_sum)

    def loss_and_grad(self, flat, grad, X, Y, sample_weight=None):
        """The regularised loss and its full gradient (into ``grad``), as
        ``backprop`` takes them."""
        loss, w_sum = self.backprop(flat, grad, X, Y, sample_weight)
        cast = flat.dtype.type
        squares = fused.fused_step(
            flat,
            grad,
            grad,
            grad,
            self.layout.n_coef,
            cast(self.alpha / w_sum),
            fused.L2_ONLY,
            (cast(0),) * 6,
        )
        return self.regularised(loss, squares, w_sum)

    def predict(self, flat, X):
        """Output activations for X (dense or sparse), computed in chunks."""
        n = X.shape[0]
        out = np.empty((n, self.layout.layer_units[-1]), flat.dtype)
        for lo in range(0, n, PREDICT_CHUNK):
            hi = min(n, lo + PREDICT_CHUNK)
            acts = [
                np.empty((hi - lo, u), flat.dtype) for u in self.layout.layer_units[1:]
            ]
            self.forward(flat, dense_rows(X[lo:hi], flat.dtype), acts)
            out[lo:hi] = acts[-1]
        return out
