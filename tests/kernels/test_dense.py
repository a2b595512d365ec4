import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastnn import kernels
from tests import reference as ref

ACTIVATIONS = ["identity", "relu", "leaky_relu", "sigmoid", "tanh"]
SHAPES = [(1, 1, 1), (1, 5, 3), (7, 1, 4), (6, 4, 1), (13, 17, 9), (33, 65, 31)]
DTYPES = [np.float32, np.float64]


def make_layer(rng, batch, n_in, n_out, dtype):
    x = rng.standard_normal((batch, n_in)).astype(dtype)
    w = (rng.standard_normal((n_in, n_out)) / np.sqrt(n_in)).astype(dtype)
    b = rng.standard_normal(n_out).astype(dtype)
    return x, w, b


def run_forward(x, w, b, activation):
    out = np.empty((x.shape[0], w.shape[1]), x.dtype)
    kernels.dense_forward(x, w, b, out, activation=activation)
    return out


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("with_bias", [True, False])
def test_forward_matches_reference(rng, dtype, shape, activation, with_bias):
    x, w, b = make_layer(rng, *shape, dtype)
    b = b if with_bias else None
    out = run_forward(x, w, b, activation)
    _, expected = ref.dense_forward(x, w, b, activation)
    ref.assert_close(out, expected, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_backward_matches_reference(rng, dtype, shape, activation):
    x, w, b = make_layer(rng, *shape, dtype)
    out = run_forward(x, w, b, activation)
    dout = rng.standard_normal(out.shape).astype(dtype)
    z, _ = ref.dense_forward(x, w, b, activation)
    exp_dx, exp_dw, exp_db = ref.dense_backward(x, w, z, dout, activation)
    dx, dw, db = np.empty_like(x), np.empty_like(w), np.empty_like(b)
    kernels.dense_backward(x, w, out, dout.copy(), dx, dw, db, activation=activation)
    for got, expected in ((dx, exp_dx), (dw, exp_dw), (db, exp_db)):
        ref.assert_close(got, expected, dtype)


def test_backward_skips_dx_and_db_when_none(rng):
    x, w, b = make_layer(rng, 5, 4, 3, np.float64)
    out = run_forward(x, w, b, "tanh")
    dout = rng.standard_normal(out.shape)
    dw = np.empty_like(w)
    kernels.dense_backward(x, w, out, dout.copy(), None, dw, None, activation="tanh")
    z, _ = ref.dense_forward(x, w, b, "tanh")
    ref.assert_close(dw, ref.dense_backward(x, w, z, dout, "tanh")[1], np.float64)


def test_backward_overwrites_dout_with_preactivation_gradient(rng):
    x, w, b = make_layer(rng, 4, 3, 2, np.float64)
    out = run_forward(x, w, b, "sigmoid")
    dout = rng.standard_normal(out.shape)
    buffer = dout.copy()
    kernels.dense_backward(
        x,
        w,
        out,
        buffer,
        np.empty_like(x),
        np.empty_like(w),
        np.empty_like(b),
        activation="sigmoid",
    )
    z, _ = ref.dense_forward(x, w, b, "sigmoid")
    ref.assert_close(buffer, dout * ref.activation_derivative("sigmoid", z), np.float64)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_backward_matches_finite_differences(rng, activation):
    """L = sum(r * act(x @ w + b)): backprop gradients vs central differences."""
    x, w, b = make_layer(rng, 4, 5, 3, np.float64)
    # keep pre-activations away from relu's kink, where differences are wrong
    b += np.sign(b) * 0.5
    r = rng.standard_normal((4, 3))

    def loss():
        return float(np.sum(r * run_forward(x, w, b, activation)))

    out = run_forward(x, w, b, activation)
    dx, dw, db = np.empty_like(x), np.empty_like(w), np.empty_like(b)
    kernels.dense_backward(x, w, out, r.copy(), dx, dw, db, activation=activation)
    np.testing.assert_allclose(
        dx, ref.numerical_gradient(loss, x), rtol=1e-6, atol=1e-7
    )
    np.testing.assert_allclose(
        dw, ref.numerical_gradient(loss, w), rtol=1e-6, atol=1e-7
    )
    np.testing.assert_allclose(
        db, ref.numerical_gradient(loss, b), rtol=1e-6, atol=1e-7
    )


@pytest.mark.slow
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch", [128, 1000])
def test_large_layer_forward_and_backward(rng, dtype, batch):
    x, w, b = make_layer(rng, batch, 784, 512, dtype)
    out = run_forward(x, w, b, "relu")
    z, expected = ref.dense_forward(x, w, b, "relu")
    ref.assert_close(out, expected, dtype, ref.TOLERANCE_LONG_SUMS)
    dout = rng.standard_normal(out.shape).astype(dtype)
    dx, dw, db = np.empty_like(x), np.empty_like(w), np.empty_like(b)
    kernels.dense_backward(x, w, out, dout.copy(), dx, dw, db, activation="relu")
    for got, exp in zip((dx, dw, db), ref.dense_backward(x, w, z, dout, "relu")):
        ref.assert_close(got, exp, dtype, ref.TOLERANCE_LONG_SUMS)


def test_leaky_relu_slope_is_used(rng):
    x, w, b = make_layer(rng, 6, 4, 5, np.float64)
    out = np.empty((6, 5))
    kernels.dense_forward(x, w, b, out, activation="leaky_relu", negative_slope=0.2)
    _, expected = ref.dense_forward(x, w, b, "leaky_relu", slope=0.2)
    ref.assert_close(out, expected, np.float64)


@settings(max_examples=40, deadline=None)
@given(
    batch=st.integers(1, 20),
    n_in=st.integers(1, 20),
    n_out=st.integers(1, 20),
    activation=st.sampled_from(ACTIVATIONS),
    dtype=st.sampled_from(DTYPES),
    seed=st.integers(0, 2**31 - 1),
)
def test_forward_backward_any_shape(batch, n_in, n_out, activation, dtype, seed):
    rng = np.random.default_rng(seed)
    x, w, b = make_layer(rng, batch, n_in, n_out, dtype)
    out = run_forward(x, w, b, activation)
    z, expected = ref.dense_forward(x, w, b, activation)
    ref.assert_close(out, expected, dtype)
    dout = rng.standard_normal(out.shape).astype(dtype)
    dx, dw, db = np.empty_like(x), np.empty_like(w), np.empty_like(b)
    kernels.dense_backward(x, w, out, dout.copy(), dx, dw, db, activation=activation)
    for got, exp in zip((dx, dw, db), ref.dense_backward(x, w, z, dout, activation)):
        ref.assert_close(got, exp, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_frozen_layer_skips_dw_and_still_gets_dx_and_db(rng, dtype):
    """dw=None (a frozen layer's weights): no weight gradient is computed;
    dx and db are those of the reference."""
    x, w, b = make_layer(rng, 6, 5, 4, dtype)
    out = run_forward(x, w, b, "relu")
    dout = rng.standard_normal(out.shape).astype(dtype)
    z, _ = ref.dense_forward(x, w, b, "relu")
    exp_dx, _, exp_db = ref.dense_backward(x, w, z, dout, "relu")
    dx, db = np.empty_like(x), np.empty_like(b)
    kernels.dense_backward(x, w, out, dout.copy(), dx, None, db, activation="relu")
    ref.assert_close(dx, exp_dx, dtype)
    ref.assert_close(db, exp_db, dtype)
