"""The argument types of every CUDA kernel, as its wrapper launches it.

``SIGNATURES`` maps a kernel's name (``<module>.<attribute>`` under
``fastnn.kernels.cuda``, ``<module>.<dict>[<key>]`` for one kept in a dict)
to ``{variant id: tuple of Numba argument types}``, one variant per dtype
combination the kernel is launched with.

Numba types a launch's arguments as follows, and the table spells them so:
device arrays are C-contiguous (the wrappers pass whole buffers, row ranges
and ``flat`` views), Python bools are ``boolean``, Python ints ``int64`` and
Python floats ``float64``; NumPy scalars keep their dtype, so the optimizer
scalars are typed from the host helpers that make them.
"""

import numba
import numpy as np
from numba import types

from fastnn._inputs import COMPACT_CODES
from fastnn.kernels import _scalar
from fastnn.kernels._checks import FLOAT_DTYPES, LABEL_DTYPES

BOOL = types.boolean  # Python bools: flags, booleans
INT = types.int64  # Python ints: activation codes, row sizes
FLOAT = types.float64  # Python floats: slopes, dropout's p

#: Model dtypes (float32, float64).
FLOATS = tuple(np.dtype(d) for d in FLOAT_DTYPES)
#: Label dtypes of the public loss and metric functions (int32, int64); the
#: model's label buffers are int64.
LABELS = tuple(np.dtype(d) for d in LABEL_DTYPES)
#: Input dtypes the gather and convert kernels read as they are (features are
#: converted to the model dtype first unless an ``input_scale`` keeps them
#: compact; booleans arrive viewed as uint8).
SOURCES = tuple(dict.fromkeys(np.dtype(c) for c in COMPACT_CODES))
#: Row indices of a mini-batch (``rng.permutation`` / ``np.arange``).
INDEX = np.dtype(np.intp)
#: Accumulators: float64 for losses, int64 for counts and refused updates.
LOSS_ACC, COUNT_ACC = np.dtype(np.float64), np.dtype(np.int64)


def scalar(dtype):
    """The Numba type of a NumPy scalar of ``dtype``."""
    return numba.from_dtype(np.dtype(dtype))


def vec(dtype):
    """A C-contiguous 1-D array of ``dtype``."""
    return types.Array(scalar(dtype), 1, "C")


def mat(dtype):
    """A C-contiguous 2-D array of ``dtype``."""
    return types.Array(scalar(dtype), 2, "C")


def typed(values):
    """The Numba types of host values, in order."""
    return tuple(numba.typeof(v) for v in values)


def per_float(make, int_scalar=None):
    """{dtype name: make(dtype)} for each model dtype. ``int_scalar``: also a
    float32 variant whose float scalar argument is a Python int (the public
    functions pass e.g. ``negative_slope=0`` on unchanged), made by
    ``int_scalar(float32)``."""
    table = {f.name: make(f) for f in FLOATS}
    if int_scalar is not None:
        table["float32-int-scalar"] = int_scalar(np.dtype(np.float32))
    return table


def _activations():
    def act(f, slope=FLOAT):
        return (mat(f), vec(f), BOOL, INT, slope)

    def grad_bias(f, slope=FLOAT):
        return (mat(f), mat(f), vec(f), BOOL, INT, slope)

    def forward(f, slope=FLOAT):
        return (vec(f), vec(f), INT, slope)

    def backward(f, slope=FLOAT):
        return (vec(f), vec(f), vec(f), INT, slope)

    return {
        # out, b, has_bias, code, slope
        "activations.bias_activation_kernel": per_float(
            act, lambda f: act(f, slope=INT)
        ),
        # out, dout, db, has_db, code, slope
        "activations.activation_grad_bias_kernel": per_float(
            grad_bias, lambda f: grad_bias(f, slope=INT)
        ),
        # x, out, code, slope
        "activations._elementwise_forward": per_float(
            forward, lambda f: forward(f, slope=INT)
        ),
        # y, dy, dx, code, slope
        "activations._elementwise_backward": per_float(
            backward, lambda f: backward(f, slope=INT)
        ),
        # x, out, log
        "activations._softmax_rows": per_float(lambda f: (mat(f), mat(f), BOOL)),
        # y, dy, dx
        "activations._softmax_backward": per_float(lambda f: (mat(f),) * 3),
    }


def _gather():
    gather, convert = {}, {}
    for source in SOURCES:
        for f in FLOATS:
            variant = f"{source.name}-to-{f.name}"
            # source, indices, out, scale (cast to out's dtype)
            # ... and whether the source is uint8 (masked to its low byte)
            gather[variant] = (mat(source), vec(INDEX), mat(f), scalar(f), BOOL)
            # source, out, scale, uint8 source
            convert[variant] = (mat(source), mat(f), scalar(f), BOOL)
    # take_rows: int64 labels as one-column rows, scale 1 cast to int64
    labels = np.dtype(np.int64)
    gather["labels-int64"] = (
        mat(labels),
        vec(INDEX),
        mat(labels),
        scalar(labels),
        BOOL,
    )
    return {"gather._gather": gather, "gather._convert": convert}


def _gemm():
    def gemm(f, slope=FLOAT):
        # a, b, c, trans_a, trans_b, bias, has_bias, code, slope
        return (mat(f), mat(f), mat(f), BOOL, BOOL, vec(f), BOOL, INT, slope)

    table = {}
    for f in FLOATS:
        variants = {f.name: gemm(f)}
        if f == np.float32:
            variants["float32-int-scalar"] = gemm(f, slope=INT)
        table[f"gemm._TILED[{f.name}]"] = variants
    return table


def _losses():
    def cross_entropy(f, label):
        # logits, labels, dlogits, has_grad, weights, weighted, acc
        return (mat(f), vec(label), mat(f), BOOL, vec(f), BOOL, vec(LOSS_ACC))

    def elementwise(f):
        # pred, target, dpred, has_grad, weights, weighted, row_size, acc
        return (vec(f), vec(f), vec(f), BOOL, vec(f), BOOL, INT, vec(LOSS_ACC))

    return {
        "losses._softmax_cross_entropy": {
            f"{f.name}-labels-{label.name}": cross_entropy(f, label)
            for f in FLOATS
            for label in LABELS
        },
        "losses._mse": per_float(elementwise),
        "losses._bce": per_float(elementwise),
    }


def _metrics():
    return {
        # logits, labels, acc
        "metrics._count_correct": {
            f"{f.name}-labels-{label.name}": (mat(f), vec(label), vec(COUNT_ACC))
            for f in FLOATS
            for label in LABELS
        },
        # logits, target, acc
        "metrics._count_correct_binary": per_float(
            lambda f: (vec(f), vec(f), vec(COUNT_ACC))
        ),
    }


def _optim():
    def sgd(f):
        lr, momentum, damp_keep, weight_decay, tiny = typed(
            _scalar.sgd_scalars(f, 0.1, 0.9, 0.0, 1e-4)
        )
        return (
            *(vec(f),) * 3,  # param, grad, velocity
            BOOL,  # use_momentum
            BOOL,  # first_step
            lr,
            momentum,
            damp_keep,
            weight_decay,
            BOOL,  # nesterov
            tiny,
            BOOL,  # guard
            vec(COUNT_ACC),  # refused
        )

    def adam(f):
        scalars = typed(_scalar.adam_scalars(f, 1, 1e-3, 0.9, 0.999, 1e-8, 0.0))
        # param, grad, m, v, decoupled, the scalars, guard, refused
        return (*(vec(f),) * 4, BOOL, *scalars, BOOL, vec(COUNT_ACC))

    return {"optim._sgd": per_float(sgd), "optim._adam": per_float(adam)}


def _graph_step():
    """The device-counter step kernels, as ``fastnn/_cuda_graphs.py``
    launches them (the state array is int64; tables are of the model dtype)."""
    state = vec(COUNT_ACC)
    return {
        # source, order, state, batch, out, scale
        "graph_step._gather_step": {
            f"{s.name}-to-{f.name}": (
                mat(s),
                state,
                state,
                INT,
                mat(f),
                scalar(f),
                BOOL,
            )
            for s in SOURCES
            for f in FLOATS
        }
        # labels: one-column int64 rows, scale 1
        | {
            "labels-int64": (
                mat(COUNT_ACC),
                state,
                state,
                INT,
                mat(COUNT_ACC),
                scalar(COUNT_ACC),
                BOOL,
            )
        },
        # acc, denominator, losses, state
        "graph_step._finish_loss": {
            "float64": (vec(LOSS_ACC), FLOAT, vec(LOSS_ACC), state)
        },
        # param, grad, velocity, use_momentum, nesterov, table, state
        "graph_step._sgd_step": per_float(
            lambda f: (vec(f),) * 3 + (BOOL, BOOL, mat(f), state)
        ),
        # param, grad, m, v, decoupled, lerp_low, table, state
        "graph_step._adam_step": per_float(
            lambda f: (vec(f),) * 4 + (BOOL, BOOL, mat(f), state)
        ),
        "graph_step._commit": {"int64": (state,)},
    }


SIGNATURES = {
    # array (zeroed in place): a loss or a count accumulator
    "_launch._zero": {d.name: (vec(d),) for d in (LOSS_ACC, COUNT_ACC)},
    **_activations(),
    # values, u, out, p
    "dropout._dropout": per_float(
        lambda f: (vec(f),) * 3 + (FLOAT,), lambda f: (vec(f),) * 3 + (INT,)
    ),
    **_gather(),
    **_gemm(),
    **_losses(),
    **_metrics(),
    **_optim(),
    **_graph_step(),
}


def cases():
    """(kernel name, variant id, argument types) of every table entry."""
    return [
        (name, variant, argtypes)
        for name, variants in SIGNATURES.items()
        for variant, argtypes in variants.items()
    ]
