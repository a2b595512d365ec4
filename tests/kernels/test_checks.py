"""Bad arguments raise TypeError/ValueError naming the argument, before any kernel runs."""

import numpy as np
import pytest

from fastnn import kernels
from tests.kernels.test_aliasing import WRITERS, arrays_for, call

F32, F64 = np.float32, np.float64


def dense_args(dtype=F32, batch=4, n_in=3, n_out=2):
    return (
        np.zeros((batch, n_in), dtype),
        np.zeros((n_in, n_out), dtype),
        np.zeros(n_out, dtype),
        np.zeros((batch, n_out), dtype),
    )


def test_wrong_inner_dimension_names_w():
    x, _, b, out = dense_args()
    with pytest.raises(ValueError, match=r"w: expected shape \(3, \*\), got \(4, 2\)"):
        kernels.dense_forward(x, np.zeros((4, 2), F32), b, out)


def test_wrong_output_shape_names_out():
    x, w, b, _ = dense_args()
    with pytest.raises(ValueError, match=r"out: expected shape \(4, 2\), got \(4, 3\)"):
        kernels.dense_forward(x, w, b, np.zeros((4, 3), F32))


def test_mixed_dtypes_raise_type_error():
    x, w, b, out = dense_args()
    with pytest.raises(TypeError, match="w: dtype float64"):
        kernels.dense_forward(x, w.astype(F64), b, out)


def test_integer_input_raises_type_error():
    _, w, b, out = dense_args()
    with pytest.raises(
        TypeError, match="x: expected dtype float32 or float64, got int64"
    ):
        kernels.dense_forward(np.zeros((4, 3), np.int64), w, b, out)


def test_non_contiguous_input_raises():
    _, w, b, out = dense_args()
    x = np.zeros((3, 4), F32).T
    with pytest.raises(ValueError, match="x: must be C-contiguous"):
        kernels.dense_forward(x, w, b, out)


def test_fortran_ordered_output_raises():
    x, w, b, _ = dense_args()
    with pytest.raises(ValueError, match="out: must be C-contiguous"):
        kernels.dense_forward(x, w, b, np.zeros((4, 2), F32, order="F"))


def test_unknown_activation_lists_choices():
    x, w, b, out = dense_args()
    with pytest.raises(ValueError, match="activation: unknown 'gelu'"):
        kernels.dense_forward(x, w, b, out, activation="gelu")


def test_negative_leaky_slope_rejected():
    x, w, b, out = dense_args()
    with pytest.raises(ValueError, match="negative_slope"):
        kernels.dense_forward(
            x, w, b, out, activation="leaky_relu", negative_slope=-0.1
        )


def test_output_aliasing_input_rejected():
    x = np.zeros((3, 3), F32)
    w = np.zeros((3, 3), F32)
    with pytest.raises(ValueError, match="out: must not share memory with x"):
        kernels.dense_forward(x, w, None, x)


def test_lists_are_not_arrays():
    _, w, b, out = dense_args()
    with pytest.raises(TypeError, match="x: expected a numpy.ndarray"):
        kernels.dense_forward([[0.0] * 3] * 4, w, b, out)


def test_empty_batch_rejected():
    x, w, b, out = dense_args(batch=0)
    with pytest.raises(ValueError, match="x: empty array"):
        kernels.dense_forward(x, w, b, out)


def test_backward_checks_every_buffer():
    x, w, b, out = dense_args()
    dout = np.zeros_like(out)
    with pytest.raises(ValueError, match="dw: expected shape"):
        kernels.dense_backward(x, w, out, dout, None, np.zeros((2, 3), F32), None)
    with pytest.raises(ValueError, match="dx: expected shape"):
        kernels.dense_backward(
            x, w, out, dout, np.zeros((4, 4), F32), np.zeros_like(w), None
        )
    with pytest.raises(ValueError, match="db: expected shape"):
        kernels.dense_backward(
            x, w, out, dout, None, np.zeros_like(w), np.zeros(3, F32)
        )


def test_activation_shape_mismatch():
    with pytest.raises(ValueError, match="out: expected shape"):
        kernels.activation_forward("relu", np.zeros((2, 3)), np.zeros((3, 2)))


def test_loss_gradient_buffer_must_match():
    with pytest.raises(ValueError, match="dlogits"):
        kernels.softmax_cross_entropy(
            np.zeros((2, 3)), np.zeros(2, np.int64), np.zeros((2, 2))
        )
    with pytest.raises(ValueError, match="labels: expected shape"):
        kernels.softmax_cross_entropy(np.zeros((2, 3)), np.zeros(3, np.int64))


@pytest.mark.parametrize(
    "fn, output",
    [(fn, output) for fn, (_, outputs, _) in WRITERS.items() for output in outputs],
)
def test_read_only_output_named(fn, output):
    arrays = arrays_for(fn, np.random.default_rng(0))
    arrays[output].flags.writeable = False
    with pytest.raises(ValueError, match=f"{output}: is read-only") as raised:
        call(fn, arrays)
    assert len(str(raised.value)) < 200  # not Numba's typing error


def test_broadcast_output_is_read_only():
    x, w, b, _ = dense_args(batch=1)
    out = np.broadcast_to(np.zeros(2, F32), (1, 2))  # C-contiguous, read-only
    with pytest.raises(ValueError, match="out: is read-only"):
        kernels.dense_forward(x, w, b, out)


@pytest.mark.parametrize("dtype", [F32, F64])
@pytest.mark.parametrize("bad", [1.5, -0.25, np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", [0, -1])
def test_bce_target_outside_unit_interval_rejected(dtype, bad, where):
    logits = np.zeros((2, 3), dtype)
    target = np.full((2, 3), 0.5, dtype)
    target.flat[where] = bad
    with pytest.raises(ValueError, match=r"target: .*\[0, 1\]"):
        kernels.binary_cross_entropy_with_logits(logits, target)


def test_bce_target_endpoints_accepted():
    logits = np.array([[-2.0, 0.0, 3.0]])
    target = np.array([[0.0, 1.0, 1.0]])
    dlogits = np.empty_like(logits)
    loss = kernels.binary_cross_entropy_with_logits(logits, target, dlogits)
    assert loss > 0


def test_huge_integer_scalar_is_a_value_error_not_an_overflow():
    from fastnn.kernels._checks import check_scalar

    with pytest.raises(ValueError, match="lr: must be finite"):
        check_scalar("lr", 10**400)
