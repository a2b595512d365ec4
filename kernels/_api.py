"""The public kernel functions: check arguments, then run on the arrays' target.

Shapes use letters: B batch rows, I input features, O output features,
C classes. Every function writes into caller-provided buffers and returns None,
except the losses, which return the batch-mean loss as a Python float.
Arrays must be C-contiguous and share one dtype (float32 or float64); labels
are int32 or int64. NumPy arrays run on the CPU; CUDA device arrays
(``__cuda_array_interface__``: Numba, CuPy, PyTorch) run on the GPU.

Buffers a function writes must be writeable and must not share memory with
any other argument (``ValueError`` naming both), except the in-place aliases
its docstring allows, which must be the very same buffer (a partial overlap is
always refused). Arrays a function only reads may share memory.
"""

import numpy as np

from ._checks import (
    LABEL_DTYPES,
    check_array,
    check_buffers,
    check_nonnegative,
    check_not_empty,
    check_scalar,
    check_step,
    check_unit_interval,
)
from ._scalar import ACTIVATION_CODES
from ._targets import target_for

#: Names accepted by ``activation=`` and ``activation_forward/backward``.
ACTIVATIONS = tuple(ACTIVATION_CODES)


def _check_activation(activation, negative_slope):
    if activation not in ACTIVATION_CODES:
        raise ValueError(
            f"activation: unknown {activation!r}; expected one of {ACTIVATIONS}"
        )
    check_scalar("negative_slope", negative_slope, low=0)


def dense_forward(x, w, b, out, activation="identity", negative_slope=0.01):
    """Dense layer forward: ``out = act(x @ w + b)``, written into ``out``.

    Parameters
    ----------
    x : ndarray
        Shape (B, I). Input rows, float32 or float64.
    w : ndarray
        Shape (I, O). Weights, stored (in_features, out_features); x's dtype.
    b : ndarray or None
        Shape (O,). Bias, or None for none.
    out : ndarray
        Shape (B, O). Receives the post-activation output.
    activation : str, default "identity"
        One of ``ACTIVATIONS``, applied in the same pass as the bias.
    negative_slope : float, default 0.01
        leaky_relu's slope for negative inputs (>= 0, so the derivative can be
        read off the output in ``dense_backward``).

    Raises
    ------
    TypeError, ValueError
        An argument of the wrong type, dtype, shape or layout, naming it.

    Notes
    -----
    No aliases: ``out`` must not share memory with x, w or b.
    """
    (batch, n_in), dtype = check_array("x", x, ndim=2)
    check_not_empty("x", (batch, n_in))
    (_, n_out), _ = check_array("w", w, ndim=2, dtype=dtype, shape=(n_in, None))
    check_not_empty("w", (n_in, n_out))
    if b is not None:
        check_array("b", b, dtype=dtype, shape=(n_out,))
    check_array("out", out, dtype=dtype, shape=(batch, n_out))
    check_buffers(("out", "x", "w", "b"), (out, x, w, b), 1)
    _check_activation(activation, negative_slope)
    target = target_for([("x", x), ("w", w), ("b", b), ("out", out)])
    target.dense_forward(x, w, b, out, activation, negative_slope)


def dense_backward(
    x, w, out, dout, dx, dw, db, activation="identity", negative_slope=0.01
):
    """Dense layer backward from the forward's input ``x`` and output ``out``.

    The activation derivative is taken from ``out``. **``dout`` is
    overwritten** with dL/d(pre-activation).

    Parameters
    ----------
    x : ndarray
        Shape (B, I). The forward's input.
    w : ndarray
        Shape (I, O). The weights.
    out : ndarray
        Shape (B, O). The forward's post-activation output.
    dout : ndarray
        Shape (B, O). dL/dout on entry; dL/d(pre-activation) on return.
    dx : ndarray or None
        Shape (B, I). Receives dL/dx; None skips it (e.g. for a first layer).
    dw : ndarray or None
        Shape (I, O). Receives dL/dw; None skips it (e.g. for a frozen layer).
    db : ndarray or None
        Shape (O,). Receives dL/db; None skips it.
    activation : str, default "identity"
        The activation of the forward call, one of ``ACTIVATIONS``.
    negative_slope : float, default 0.01
        leaky_relu's slope, as in the forward call.

    Notes
    -----
    No aliases: dout, dx, dw and db must not share memory with any argument
    (x, w and out may share).
    """
    (batch, n_in), dtype = check_array("x", x, ndim=2)
    check_not_empty("x", (batch, n_in))
    (_, n_out), _ = check_array("w", w, ndim=2, dtype=dtype, shape=(n_in, None))
    check_not_empty("w", (n_in, n_out))
    check_array("out", out, dtype=dtype, shape=(batch, n_out))
    check_array("dout", dout, dtype=dtype, shape=(batch, n_out))
    if dx is not None:
        check_array("dx", dx, dtype=dtype, shape=(batch, n_in))
    if dw is not None:
        check_array("dw", dw, dtype=dtype, shape=(n_in, n_out))
    if db is not None:
        check_array("db", db, dtype=dtype, shape=(n_out,))
    check_buffers(
        ("dout", "dx", "dw", "db", "x", "w", "out"), (dout, dx, dw, db, x, w, out), 4
    )
    _check_activation(activation, negative_slope)
    target = target_for(
        [
            ("x", x),
            ("w", w),
            ("out", out),
            ("dout", dout),
            ("dx", dx),
            ("dw", dw),
            ("db", db),
        ]
    )
    target.dense_backward(x, w, out, dout, dx, dw, db, activation, negative_slope)


def _check_same(names_arrays, ndim=None):
    first_name, first = names_arrays[0]
    shape, dtype = check_array(first_name, first, ndim=ndim)
    check_not_empty(first_name, shape)
    for name, a in names_arrays[1:]:
        if a is not None:
            check_array(name, a, dtype=dtype, shape=shape)
    return shape, dtype


def activation_forward(name, x, out, negative_slope=0.01):
    """Elementwise ``out = act(x)`` for ``name`` in ACTIVATIONS; any shape.

    Parameters
    ----------
    name : str
        One of ``ACTIVATIONS``.
    x : ndarray
        Input, float32 or float64, any shape.
    out : ndarray
        Receives act(x); x's shape and dtype.
    negative_slope : float, default 0.01
        leaky_relu's slope for negative inputs (>= 0).

    Notes
    -----
    In place: ``out`` may be ``x``.
    """
    _check_activation(name, negative_slope)
    _check_same([("x", x), ("out", out)])
    check_buffers(("out", "x"), (out, x), 1, (("out", "x"),))
    target_for([("x", x), ("out", out)]).activation_forward(
        name, x, out, negative_slope
    )


def activation_backward(name, out, dout, dx, negative_slope=0.01):
    """Elementwise ``dx = dout * act'(z)``, the derivative read from ``out = act(z)``.

    Parameters
    ----------
    name : str
        One of ``ACTIVATIONS``.
    out : ndarray
        The forward's output act(z).
    dout : ndarray
        dL/dout, out's shape and dtype.
    dx : ndarray
        Receives dL/dz.
    negative_slope : float, default 0.01
        leaky_relu's slope, as in the forward call.

    Notes
    -----
    In place: ``dx`` may be ``dout`` or ``out``.
    """
    _check_activation(name, negative_slope)
    _check_same([("out", out), ("dout", dout), ("dx", dx)])
    check_buffers(
        ("dx", "out", "dout"), (dx, out, dout), 1, (("dx", "out"), ("dx", "dout"))
    )
    target_for([("out", out), ("dout", dout), ("dx", dx)]).activation_backward(
        name, out, dout, dx, negative_slope
    )


def softmax(x, out):
    """Row-wise softmax of x into out; stable for any finite x.

    Parameters
    ----------
    x : ndarray
        Shape (B, C). Scores (logits).
    out : ndarray
        Shape (B, C). Receives the probabilities; each row sums to 1.

    Notes
    -----
    In place: ``out`` may be ``x``.
    """
    _check_same([("x", x), ("out", out)], ndim=2)
    check_buffers(("out", "x"), (out, x), 1, (("out", "x"),))
    target_for([("x", x), ("out", out)]).softmax(x, out)


def log_softmax(x, out):
    """Row-wise log-softmax of x into out; stable for any finite x.

    Parameters
    ----------
    x : ndarray
        Shape (B, C). Scores (logits).
    out : ndarray
        Shape (B, C). Receives ``x - logsumexp(x)`` per row.

    Notes
    -----
    In place: ``out`` may be ``x``.
    """
    _check_same([("x", x), ("out", out)], ndim=2)
    check_buffers(("out", "x"), (out, x), 1, (("out", "x"),))
    target_for([("x", x), ("out", out)]).log_softmax(x, out)


def softmax_backward(out, dout, dx):
    """Softmax backward: ``dx = y * (dout - sum(dout * y, axis=1))``, y = ``out``.

    Parameters
    ----------
    out : ndarray
        Shape (B, C). The forward's output y = softmax(x).
    dout : ndarray
        Shape (B, C). dL/dy.
    dx : ndarray
        Shape (B, C). Receives dL/dx.

    Notes
    -----
    In place: ``dx`` may be ``dout`` or ``out``.
    """
    _check_same([("out", out), ("dout", dout), ("dx", dx)], ndim=2)
    check_buffers(
        ("dx", "out", "dout"), (dx, out, dout), 1, (("dx", "out"), ("dx", "dout"))
    )
    target_for([("out", out), ("dout", dout), ("dx", dx)]).softmax_backward(
        out, dout, dx
    )


def _check_sample_weight(sample_weight, batch, dtype):
    """sample_weight: None, or (B,) of the operands' dtype, finite and >= 0
    (checked on the host; device weights are the caller's responsibility)."""
    if sample_weight is None:
        return
    if batch is None:
        raise ValueError("sample_weight: needs arrays with a first (batch) axis")
    check_array("sample_weight", sample_weight, dtype=dtype, shape=(batch,))
    if isinstance(sample_weight, np.ndarray):
        check_nonnegative("sample_weight", sample_weight)


def softmax_cross_entropy(logits, labels, dlogits=None, sample_weight=None):
    """Fused softmax + cross-entropy, mean over the batch; returns the loss.

    One pass per row; finite for logits of any finite size.

    Parameters
    ----------
    logits : ndarray
        Shape (B, C). Scores, float32 or float64.
    labels : ndarray
        Shape (B,). Class ids, int32 or int64, in [0, C).
    dlogits : ndarray or None
        Shape (B, C). Receives ``(softmax(logits) - onehot(labels)) / B``; None skips it.
    sample_weight : ndarray or None
        Shape (B,). Row i's loss term and gradient are multiplied by ``sample_weight[i]``
        and the sum is still divided by B (Keras's "sum over batch size");
        pass ``w * B / w.sum()`` for a weighted average, scikit-learn's
        convention.

    Returns
    -------
    float
        The batch-mean cross-entropy.

    Raises
    ------
    ValueError
        A label outside [0, C), or a bad argument (named).

    Notes
    -----
    No aliases: ``dlogits`` must not share memory with logits or labels (the
    loss re-reads the logits after the gradient is written).
    """
    (batch, n_classes), dtype = check_array("logits", logits, ndim=2)
    check_not_empty("logits", (batch, n_classes))
    check_array("labels", labels, shape=(batch,), allowed=LABEL_DTYPES)
    if dlogits is not None:
        check_array("dlogits", dlogits, dtype=dtype, shape=(batch, n_classes))
    _check_sample_weight(sample_weight, batch, dtype)
    check_buffers(
        ("dlogits", "logits", "labels", "sample_weight"),
        (dlogits, logits, labels, sample_weight),
        1,
    )
    target = target_for(
        [
            ("logits", logits),
            ("labels", labels),
            ("dlogits", dlogits),
            ("sample_weight", sample_weight),
        ]
    )
    return target.softmax_cross_entropy(logits, labels, dlogits, sample_weight)


def mse(pred, target, dpred=None, sample_weight=None):
    """Mean squared error over all elements; dpred = 2 (pred - target) / n.

    Parameters
    ----------
    pred : ndarray
        Predictions, any shape.
    target : ndarray
        Targets, pred's shape and dtype.
    dpred : ndarray or None
        Receives the gradient 2 (pred - target) / n, n = pred.size; None
        skips it.
    sample_weight : ndarray or None
        Shape (B,). Weights of the rows (first axis), as in ``softmax_cross_entropy``.

    Returns
    -------
    float
        The mean squared error.

    Notes
    -----
    In place: ``dpred`` may be ``pred`` or ``target``.
    """
    shape, dtype = _check_same([("pred", pred), ("target", target), ("dpred", dpred)])
    _check_sample_weight(sample_weight, shape[0] if shape else None, dtype)
    check_buffers(
        ("dpred", "pred", "target", "sample_weight"),
        (dpred, pred, target, sample_weight),
        1,
        (("dpred", "pred"), ("dpred", "target")),
    )
    where = target_for(
        [
            ("pred", pred),
            ("target", target),
            ("dpred", dpred),
            ("sample_weight", sample_weight),
        ]
    )
    return where.mse(pred, target, dpred, sample_weight)


def binary_cross_entropy_with_logits(logits, target, dlogits=None, sample_weight=None):
    """Mean BCE of sigmoid(logits) against targets in [0, 1].

    Computed in the stable form ``max(x, 0) - x t + log(1 + exp(-|x|))``.

    Parameters
    ----------
    logits : ndarray
        Scores x, any shape.
    target : ndarray
        Targets t in [0, 1], logits' shape and dtype.
    dlogits : ndarray or None
        Receives (sigmoid(x) - t) / n, n = logits.size; None skips it.
    sample_weight : ndarray or None
        Shape (B,). Weights of the rows, as in ``softmax_cross_entropy``.

    Returns
    -------
    float
        The mean binary cross-entropy.

    Raises
    ------
    ValueError
        A host ``target`` outside [0, 1] (or NaN). Device targets are not
        range-checked (that would cost a device pass and a copy back per
        call).

    Notes
    -----
    In place: ``dlogits`` may be ``logits`` or ``target``.
    """
    shape, dtype = _check_same(
        [("logits", logits), ("target", target), ("dlogits", dlogits)]
    )
    _check_sample_weight(sample_weight, shape[0] if shape else None, dtype)
    check_buffers(
        ("dlogits", "logits", "target", "sample_weight"),
        (dlogits, logits, target, sample_weight),
        1,
        (("dlogits", "logits"), ("dlogits", "target")),
    )
    where = target_for(
        [
            ("logits", logits),
            ("target", target),
            ("dlogits", dlogits),
            ("sample_weight", sample_weight),
        ]
    )
    if isinstance(target, np.ndarray):  # target_for passed: all on the host
        check_unit_interval("target", target)
    return where.binary_cross_entropy_with_logits(
        logits, target, dlogits, sample_weight
    )


def sgd_update(
    param,
    grad,
    velocity,
    step,
    lr,
    momentum=0.0,
    dampening=0.0,
    weight_decay=0.0,
    nesterov=False,
):
    """One step of torch.optim.SGD on ``param``, in place.

    Semantics: https://pytorch.org/docs/stable/generated/torch.optim.SGD.html

    Parameters
    ----------
    param : ndarray
        Parameters, updated in place.
    grad : ndarray
        Their gradient, param's shape and dtype.
    velocity : ndarray or None
        The momentum buffer, param's shape and dtype; may be None when
        momentum is 0.
    step : int
        The step number, counting from 1: on step 1 the buffer starts as the
        (weight-decayed) gradient itself, undampened, as in torch.
    lr : float
        Learning rate (>= 0).
    momentum : float, default 0.0
        Momentum factor (>= 0).
    dampening : float, default 0.0
        Dampening of the momentum.
    weight_decay : float, default 0.0
        L2 penalty added to the gradient (>= 0).
    nesterov : bool, default False
        Nesterov momentum (requires momentum > 0 and dampening 0).

    Notes
    -----
    No aliases: param, grad and velocity (when given) are three separate
    buffers.
    """
    _check_same([("param", param), ("grad", grad), ("velocity", velocity)])
    check_buffers(("param", "velocity", "grad"), (param, velocity, grad), 2)
    check_step(step)
    check_scalar("lr", lr, low=0)
    check_scalar("momentum", momentum, low=0)
    check_scalar("dampening", dampening)
    check_scalar("weight_decay", weight_decay, low=0)
    if momentum != 0 and velocity is None:
        raise ValueError("velocity: a momentum buffer is required when momentum != 0")
    if nesterov and (momentum <= 0 or dampening != 0):
        raise ValueError("nesterov: requires momentum > 0 and dampening == 0")
    where = target_for([("param", param), ("grad", grad), ("velocity", velocity)])
    where.sgd_update(
        param,
        grad,
        velocity,
        step,
        lr,
        momentum,
        dampening,
        weight_decay,
        bool(nesterov),
    )


def adam_update(
    param,
    grad,
    m,
    v,
    step,
    lr,
    beta1=0.9,
    beta2=0.999,
    eps=1e-8,
    weight_decay=0.0,
    decoupled=False,
):
    """One step of torch.optim.Adam (``decoupled=True``: AdamW), in place.

    Semantics: https://pytorch.org/docs/stable/generated/torch.optim.Adam.html
    and https://pytorch.org/docs/stable/generated/torch.optim.AdamW.html

    Parameters
    ----------
    param : ndarray
        Parameters, updated in place.
    grad : ndarray
        Their gradient, param's shape and dtype.
    m : ndarray
        First-moment buffer, updated in place.
    v : ndarray
        Second-moment buffer, updated in place.
    step : int
        The step number, counting from 1 (bias correction).
    lr : float
        Learning rate (>= 0).
    beta1, beta2 : float, default 0.9, 0.999
        Decay rates of the moments, in [0, 1).
    eps : float, default 1e-8
        Added to the denominator (>= 0).
    weight_decay : float, default 0.0
        L2 penalty added to the gradient (Adam) or decoupled weight decay
        (AdamW).
    decoupled : bool, default False
        True for AdamW's decoupled weight decay.

    Notes
    -----
    No aliases: param, grad, m and v are four separate buffers.
    """
    _check_same([("param", param), ("grad", grad), ("m", m), ("v", v)])
    check_buffers(("param", "m", "v", "grad"), (param, m, v, grad), 3)
    check_step(step)
    check_scalar("lr", lr, low=0)
    check_scalar("beta1", beta1, low=0, high=1, high_open=True)
    check_scalar("beta2", beta2, low=0, high=1, high_open=True)
    check_scalar("eps", eps, low=0)
    check_scalar("weight_decay", weight_decay, low=0)
    where = target_for([("param", param), ("grad", grad), ("m", m), ("v", v)])
    where.adam_update(
        param, grad, m, v, step, lr, beta1, beta2, eps, weight_decay, bool(decoupled)
    )


def dropout_forward(x, u, out, p):
    """Inverted dropout: ``out = x * (u >= p) / (1 - p)``.

    Parameters
    ----------
    x : ndarray
        Input, any shape.
    u : ndarray
        Uniform noise in [0, 1) of x's shape and dtype, drawn by the caller
        (so dropout is reproducible from one seeded generator).
    out : ndarray
        Receives the output.
    p : float
        Drop probability, 0 <= p < 1.

    Notes
    -----
    In place: ``out`` may be ``x`` (not ``u``: the backward needs it).
    """
    _check_same([("x", x), ("u", u), ("out", out)])
    check_buffers(("out", "x", "u"), (out, x, u), 1, (("out", "x"),))
    check_scalar("p", p, low=0, high=1, high_open=True)
    target_for([("x", x), ("u", u), ("out", out)]).dropout_forward(x, u, out, p)


def dropout_backward(u, dout, dx, p):
    """Dropout backward with the forward's noise ``u``: ``dx = dout * (u >= p) / (1 - p)``.

    Parameters
    ----------
    u : ndarray
        The noise the forward call used.
    dout : ndarray
        dL/dout, u's shape and dtype.
    dx : ndarray
        Receives dL/dx.
    p : float
        The forward's drop probability.

    Notes
    -----
    In place: ``dx`` may be ``dout``.
    """
    _check_same([("u", u), ("dout", dout), ("dx", dx)])
    check_buffers(("dx", "dout", "u"), (dx, dout, u), 1, (("dx", "dout"),))
    check_scalar("p", p, low=0, high=1, high_open=True)
    target_for([("u", u), ("dout", dout), ("dx", dx)]).dropout_backward(u, dout, dx, p)


def count_correct(logits, labels):
    """Number of rows whose arg-max equals the label.

    Parameters
    ----------
    logits : ndarray
        Shape (B, C). Scores.
    labels : ndarray
        Shape (B,). Class ids, int32 or int64.

    Returns
    -------
    int
        How many rows are classified correctly.
    """
    (batch, n_classes), _ = check_array("logits", logits, ndim=2)
    check_not_empty("logits", (batch, n_classes))
    check_array("labels", labels, shape=(batch,), allowed=LABEL_DTYPES)
    return int(
        target_for([("logits", logits), ("labels", labels)]).count_correct(
            logits, labels
        )
    )


def count_correct_binary(logits, target):
    """Number of elements where ``logits > 0`` agrees with ``target > 0.5``.

    Parameters
    ----------
    logits : ndarray
        Scores, any shape.
    target : ndarray
        Targets in [0, 1], logits' shape and dtype.

    Returns
    -------
    int
        How many elements are classified correctly.
    """
    _check_same([("logits", logits), ("target", target)])
    where = target_for([("logits", logits), ("target", target)])
    return int(where.count_correct_binary(logits, target))
