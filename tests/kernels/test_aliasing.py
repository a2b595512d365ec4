"""Output buffers that share memory with another argument are refused with a
ValueError naming both, except the documented in-place aliases, which give the
reference result; adjacent slices of one buffer are independent buffers."""

import inspect

import numpy as np
import pytest

from fastnn import kernels
from fastnn.kernels import _checks
from tests import reference as ref

BATCH, N_IN, N_OUT = 3, 4, 5

#: Every public kernel that writes a buffer: its array arguments and their
#: shapes, the arrays it writes, and its other arguments.
WRITERS = {
    "dense_forward": (
        {"x": (BATCH, N_IN), "w": (N_IN, N_OUT), "b": (N_OUT,), "out": (BATCH, N_OUT)},
        ("out",),
        {"activation": "tanh"},
    ),
    "dense_backward": (
        {
            "x": (BATCH, N_IN),
            "w": (N_IN, N_OUT),
            "out": (BATCH, N_OUT),
            "dout": (BATCH, N_OUT),
            "dx": (BATCH, N_IN),
            "dw": (N_IN, N_OUT),
            "db": (N_OUT,),
        },
        ("dout", "dx", "dw", "db"),
        {"activation": "tanh"},
    ),
    "activation_forward": (
        {"x": (BATCH, N_OUT), "out": (BATCH, N_OUT)},
        ("out",),
        {"name": "tanh"},
    ),
    "activation_backward": (
        {"out": (BATCH, N_OUT), "dout": (BATCH, N_OUT), "dx": (BATCH, N_OUT)},
        ("dx",),
        {"name": "tanh"},
    ),
    "softmax": ({"x": (BATCH, N_OUT), "out": (BATCH, N_OUT)}, ("out",), {}),
    "log_softmax": ({"x": (BATCH, N_OUT), "out": (BATCH, N_OUT)}, ("out",), {}),
    "softmax_backward": (
        {"out": (BATCH, N_OUT), "dout": (BATCH, N_OUT), "dx": (BATCH, N_OUT)},
        ("dx",),
        {},
    ),
    "softmax_cross_entropy": (
        {"logits": (BATCH, N_OUT), "labels": (BATCH,), "dlogits": (BATCH, N_OUT)},
        ("dlogits",),
        {},
    ),
    "mse": (
        {"pred": (BATCH, N_OUT), "target": (BATCH, N_OUT), "dpred": (BATCH, N_OUT)},
        ("dpred",),
        {},
    ),
    "binary_cross_entropy_with_logits": (
        {"logits": (BATCH, N_OUT), "target": (BATCH, N_OUT), "dlogits": (BATCH, N_OUT)},
        ("dlogits",),
        {},
    ),
    "sgd_update": (
        {"param": (N_IN, N_OUT), "grad": (N_IN, N_OUT), "velocity": (N_IN, N_OUT)},
        ("param", "velocity"),
        {"step": 2, "lr": 0.1, "momentum": 0.9},
    ),
    "adam_update": (
        {
            "param": (N_IN, N_OUT),
            "grad": (N_IN, N_OUT),
            "m": (N_IN, N_OUT),
            "v": (N_IN, N_OUT),
        },
        ("param", "m", "v"),
        {"step": 2, "lr": 0.01},
    ),
    "dropout_forward": (
        {"x": (BATCH, N_OUT), "u": (BATCH, N_OUT), "out": (BATCH, N_OUT)},
        ("out",),
        {"p": 0.5},
    ),
    "dropout_backward": (
        {"u": (BATCH, N_OUT), "dout": (BATCH, N_OUT), "dx": (BATCH, N_OUT)},
        ("dx",),
        {"p": 0.5},
    ),
}

#: The aliases allowed as the very same buffer (output, input): kernels that
#: read each element (or row) of the input before writing it.
IN_PLACE = {
    "activation_forward": {("out", "x")},
    "activation_backward": {("dx", "out"), ("dx", "dout")},
    "softmax": {("out", "x")},
    "log_softmax": {("out", "x")},
    "softmax_backward": {("dx", "out"), ("dx", "dout")},
    "mse": {("dpred", "pred"), ("dpred", "target")},
    "binary_cross_entropy_with_logits": {("dlogits", "logits"), ("dlogits", "target")},
    "dropout_forward": {("out", "x")},
    "dropout_backward": {("dx", "dout")},
}


def dtype_of(arg):
    return np.int64 if arg == "labels" else np.float64


def fill(arg, a, rng):
    """Valid values for argument ``arg`` written into ``a``."""
    if arg == "labels":
        a[...] = rng.integers(0, N_OUT, a.shape)
    elif arg in ("u", "target", "v"):
        a[...] = rng.random(a.shape)
    else:
        a[...] = rng.standard_normal(a.shape)


def arrays_for(fn, rng=None):
    """Fresh, separate arrays for every array argument of ``fn``."""
    shapes = WRITERS[fn][0]
    arrays = {arg: np.zeros(shape, dtype_of(arg)) for arg, shape in shapes.items()}
    if rng is not None:
        for arg, a in arrays.items():
            fill(arg, a, rng)
    return arrays


def call(fn, arrays):
    return getattr(kernels, fn)(**arrays, **WRITERS[fn][2])


def views(shared, placements):
    """Views of the byte buffer ``shared``: {arg: (byte offset, shape)}."""
    out = {}
    for arg, (offset, shape) in placements.items():
        dtype = np.dtype(dtype_of(arg))
        nbytes = dtype.itemsize * int(np.prod(shape))
        out[arg] = shared[offset : offset + nbytes].view(dtype).reshape(shape)
    return out


def nbytes(fn, arg):
    return np.dtype(dtype_of(arg)).itemsize * int(np.prod(WRITERS[fn][0][arg]))


def pairs():
    """(fn, output, other) for every output and every other array argument."""
    for fn, (shapes, outputs, _) in WRITERS.items():
        for output in outputs:
            for other in shapes:
                if other != output and not (other in outputs and other < output):
                    yield fn, output, other


PAIRS = list(pairs())
PAIR_IDS = [f"{fn}-{a}-{b}" for fn, a, b in PAIRS]


def allowed(fn, output, other):
    aliases = IN_PLACE.get(fn, ())
    return (output, other) in aliases or (other, output) in aliases


def refusal(output, other):
    """Either name may come first when both arguments are written."""
    return rf"({output}: must not share memory with {other}|{other}: must not share memory with {output})\b"


def test_every_public_writer_is_covered():
    readers = {"count_correct", "count_correct_binary"}
    public = {
        name
        for name in kernels.__all__
        if inspect.isfunction(getattr(kernels, name))
        and getattr(kernels, name).__module__.endswith("_api")
    }
    assert public - readers == set(WRITERS)
    for fn, (shapes, _, scalars) in WRITERS.items():
        params = inspect.signature(getattr(kernels, fn)).parameters
        assert set(shapes) | set(scalars) <= set(params), fn


@pytest.mark.parametrize(
    "fn, output, other",
    [
        ("softmax_cross_entropy", "dlogits", "logits"),
        ("dense_backward", "dw", "w"),
        ("dense_backward", "dout", "out"),
        ("dense_backward", "dx", "x"),
        ("adam_update", "m", "param"),
        ("adam_update", "v", "m"),
        ("adam_update", "param", "grad"),
        ("sgd_update", "velocity", "param"),
        ("sgd_update", "param", "grad"),
        ("dropout_forward", "out", "u"),
        ("dropout_backward", "dx", "u"),
    ],
)
def test_same_array_refused(fn, output, other):
    arrays = arrays_for(fn)
    assert arrays[other].shape == arrays[output].shape
    arrays[other] = arrays[output]
    with pytest.raises(ValueError, match=refusal(output, other)):
        call(fn, arrays)


@pytest.mark.parametrize("fn, output, other", PAIRS, ids=PAIR_IDS)
@pytest.mark.parametrize("shift", ["output", "other"])
def test_partial_overlap_refused(fn, output, other, shift):
    """Two slices of one buffer, one starting an element into the other."""
    shared = np.zeros(nbytes(fn, output) + nbytes(fn, other) + 64, np.uint8)
    shapes = WRITERS[fn][0]
    offsets = {output: 8 * (shift == "output"), other: 8 * (shift == "other")}
    arrays = arrays_for(fn)
    arrays.update(
        views(shared, {arg: (offsets[arg], shapes[arg]) for arg in (output, other)})
    )
    with pytest.raises(ValueError, match=refusal(output, other)):
        call(fn, arrays)


@pytest.mark.parametrize("fn, output, other", PAIRS, ids=PAIR_IDS)
def test_same_start_refused_unless_in_place(fn, output, other):
    """Both slices start at byte 0: the very same buffer when the sizes match."""
    shared = np.zeros(nbytes(fn, output) + nbytes(fn, other), np.uint8)
    shapes = WRITERS[fn][0]
    arrays = arrays_for(fn)
    arrays.update(views(shared, {arg: (0, shapes[arg]) for arg in (output, other)}))
    if allowed(fn, output, other):
        call(fn, arrays)  # views of one memory, not the same object: still in place
    else:
        with pytest.raises(ValueError, match=refusal(output, other)):
            call(fn, arrays)


def outputs_after(fn, arrays):
    result = call(fn, arrays)
    written = {arg: arrays[arg].copy() for arg in WRITERS[fn][1]}
    return result, written


@pytest.mark.parametrize("fn, output, other", PAIRS, ids=PAIR_IDS)
@pytest.mark.parametrize("first", ["output", "other"])
def test_adjacent_slices_accepted(rng, fn, output, other, first):
    """Neighbouring slices of one buffer give the same result as separate arrays."""
    separate = arrays_for(fn, rng)
    shapes = WRITERS[fn][0]
    order = (output, other) if first == "output" else (other, output)
    size_first = nbytes(fn, order[0])
    shared = np.zeros(size_first + nbytes(fn, order[1]), np.uint8)
    placed = views(
        shared,
        {order[0]: (0, shapes[order[0]]), order[1]: (size_first, shapes[order[1]])},
    )
    arrays = {arg: a.copy() for arg, a in separate.items()}
    for arg, view in placed.items():
        view[...] = separate[arg]
        arrays[arg] = view
    expected, expected_written = outputs_after(fn, separate)
    result, written = outputs_after(fn, arrays)
    assert result == expected
    for arg, value in expected_written.items():
        np.testing.assert_array_equal(written[arg], value, err_msg=arg)


def test_views_of_two_objects_on_one_bytearray():
    """Arrays over foreign memory (no NumPy owner) are compared by address too."""
    memory = bytearray(8 * 40)
    first = np.frombuffer(memoryview(memory), np.float64)
    second = np.frombuffer(memoryview(memory), np.float64)
    x = first[:15].reshape(BATCH, N_OUT)
    with pytest.raises(ValueError, match="out: must not share memory with x"):
        kernels.softmax(x, second[5:20].reshape(BATCH, N_OUT))
    with pytest.raises(ValueError, match="out: must not share memory with x"):
        kernels.dense_forward(
            first[:12].reshape(BATCH, N_IN), first[12:32].reshape(N_IN, N_OUT), None, x
        )
    kernels.softmax(x, second[15:30].reshape(BATCH, N_OUT))  # neighbours
    kernels.softmax(x, second[:15].reshape(BATCH, N_OUT))  # in place


# The allowed in-place aliases against float64 references computed here.

ACTIVATIONS = ["identity", "relu", "leaky_relu", "sigmoid", "tanh"]
DTYPES = [np.float32, np.float64]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_forward_in_place(rng, dtype, name):
    x = (3 * rng.standard_normal((BATCH, N_OUT))).astype(dtype)
    expected = ref.activation(name, x)
    kernels.activation_forward(name, x, x)
    ref.assert_close(x, expected, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ACTIVATIONS)
@pytest.mark.parametrize("alias", ["dout", "out"])
def test_activation_backward_in_place(rng, dtype, name, alias):
    z = (3 * rng.standard_normal((BATCH, N_OUT))).astype(dtype)
    out = ref.activation(name, z).astype(dtype)
    dout = rng.standard_normal((BATCH, N_OUT)).astype(dtype)
    expected = dout * ref.activation_derivative(name, z)
    dx = dout if alias == "dout" else out
    kernels.activation_backward(name, out, dout, dx)
    ref.assert_close(dx, expected, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("log", [False, True])
def test_softmax_in_place(rng, dtype, log):
    x = (3 * rng.standard_normal((BATCH, N_OUT))).astype(dtype)
    expected = ref.log_softmax(x) if log else ref.softmax(x)
    (kernels.log_softmax if log else kernels.softmax)(x, x)
    ref.assert_close(x, expected, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("alias", ["dout", "out"])
def test_softmax_backward_in_place(rng, dtype, alias):
    out = ref.softmax(rng.standard_normal((BATCH, N_OUT))).astype(dtype)
    dout = rng.standard_normal((BATCH, N_OUT)).astype(dtype)
    y, g = out.astype(np.float64), dout.astype(np.float64)
    expected = y * (g - (g * y).sum(axis=1, keepdims=True))
    dx = dout if alias == "dout" else out
    kernels.softmax_backward(out, dout, dx)
    ref.assert_close(dx, expected, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("alias", ["pred", "target"])
def test_mse_gradient_in_place(rng, dtype, alias):
    pred = rng.standard_normal((BATCH, N_OUT)).astype(dtype)
    target = rng.standard_normal((BATCH, N_OUT)).astype(dtype)
    expected_loss, expected_grad = ref.mse(pred, target)
    loss = kernels.mse(pred, target, pred if alias == "pred" else target)
    ref.assert_close(loss, expected_loss, dtype)
    ref.assert_close(pred if alias == "pred" else target, expected_grad, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("alias", ["logits", "target"])
def test_bce_gradient_in_place(rng, dtype, alias):
    logits = (3 * rng.standard_normal((BATCH, N_OUT))).astype(dtype)
    target = rng.random((BATCH, N_OUT)).astype(dtype)
    expected_loss, expected_grad = ref.binary_cross_entropy_with_logits(logits, target)
    dlogits = logits if alias == "logits" else target
    loss = kernels.binary_cross_entropy_with_logits(logits, target, dlogits)
    ref.assert_close(loss, expected_loss, dtype)
    ref.assert_close(dlogits, expected_grad, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_in_place(rng, dtype):
    x = rng.standard_normal((BATCH, N_OUT)).astype(dtype)
    u = rng.random((BATCH, N_OUT)).astype(dtype)
    keep = u.astype(np.float64) >= 0.3
    expected = np.where(keep, x.astype(np.float64) / 0.7, 0.0)
    kernels.dropout_forward(x, u, x, 0.3)
    ref.assert_close(x, expected, dtype)
    dout = rng.standard_normal((BATCH, N_OUT)).astype(dtype)
    expected = np.where(keep, dout.astype(np.float64) / 0.7, 0.0)
    kernels.dropout_backward(u, dout, dout, 0.3)
    ref.assert_close(dout, expected, dtype)


def test_in_place_through_a_view_object():
    """The same memory reached through two array objects is still in place."""
    x = np.linspace(-2, 2, BATCH * N_OUT).reshape(BATCH, N_OUT)
    expected = np.tanh(x)
    kernels.activation_forward("tanh", x, x.reshape(BATCH, N_OUT))
    ref.assert_close(x, expected, np.float64)


class FakeDeviceArray:
    """Just a ``__cuda_array_interface__`` (never dereferenced): the address
    checks of device arrays, without a GPU."""

    def __init__(self, address, shape, read_only=False, typestr="<f8"):
        self.__cuda_array_interface__ = {
            "shape": shape,
            "typestr": typestr,
            "data": (address, read_only),
            "strides": None,
            "version": 3,
        }


def test_device_addresses_compared_by_byte_range():
    size = 8 * BATCH * N_OUT
    x = FakeDeviceArray(1 << 20, (BATCH, N_OUT))
    with pytest.raises(ValueError, match="out: must not share memory with x"):
        kernels.softmax(x, FakeDeviceArray((1 << 20) + size - 8, (BATCH, N_OUT)))
    with pytest.raises(ValueError, match="dlogits: must not share memory with logits"):
        kernels.softmax_cross_entropy(
            x,
            FakeDeviceArray(1 << 24, (BATCH,), typestr="<i8"),
            FakeDeviceArray(1 << 20, (BATCH, N_OUT)),
        )
    with pytest.raises(ValueError, match="out: is read-only"):
        kernels.softmax(x, FakeDeviceArray(1 << 24, (BATCH, N_OUT), read_only=True))
    names = ("out", "x")
    neighbour = FakeDeviceArray((1 << 20) + size, (BATCH, N_OUT))
    same = FakeDeviceArray(1 << 20, (BATCH, N_OUT))
    _checks.check_buffers(names, (neighbour, x), 1)
    _checks.check_buffers(names, (same, x), 1, (("out", "x"),))
    with pytest.raises(ValueError, match="out: must not share memory with x"):
        _checks.check_buffers(names, (same, x), 1)
