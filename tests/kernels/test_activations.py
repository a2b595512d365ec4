import numpy as np
import pytest

from fastnn import kernels
from tests import reference as ref

ACTIVATIONS = ["identity", "relu", "leaky_relu", "sigmoid", "tanh"]
DTYPES = [np.float32, np.float64]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ACTIVATIONS)
@pytest.mark.parametrize("shape", [(1,), (7,), (3, 5), (2, 3, 4)])
def test_activation_forward_and_backward(rng, dtype, name, shape):
    x = (3 * rng.standard_normal(shape)).astype(dtype)
    out = np.empty_like(x)
    kernels.activation_forward(name, x, out)
    ref.assert_close(out, ref.activation(name, x), dtype)
    dout = rng.standard_normal(shape).astype(dtype)
    dx = np.empty_like(x)
    kernels.activation_backward(name, out, dout, dx)
    ref.assert_close(dx, dout * ref.activation_derivative(name, x), dtype)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_backward_matches_finite_differences(rng, name):
    x = rng.standard_normal(12)
    x += np.sign(x) * 0.1  # away from the kink at 0
    r = rng.standard_normal(12)
    out = np.empty_like(x)

    def loss():
        kernels.activation_forward(name, x, out)
        return float(np.sum(r * out))

    loss()
    dx = np.empty_like(x)
    kernels.activation_backward(name, out.copy(), r, dx)
    np.testing.assert_allclose(
        dx, ref.numerical_gradient(loss, x), rtol=1e-6, atol=1e-8
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_and_tanh_saturate_without_overflow(dtype):
    x = np.array([-1e4, -100.0, 0.0, 100.0, 1e4], dtype)
    for name in ("sigmoid", "tanh"):
        out = np.empty_like(x)
        kernels.activation_forward(name, x, out)
        assert np.all(np.isfinite(out))
        ref.assert_close(out, ref.activation(name, np.clip(x, -700, 700)), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (1, 10), (9, 3), (64, 1000)])
def test_softmax_and_log_softmax(rng, dtype, shape):
    x = (5 * rng.standard_normal(shape)).astype(dtype)
    out = np.empty_like(x)
    kernels.softmax(x, out)
    ref.assert_close(out, ref.softmax(x), dtype)
    kernels.log_softmax(x, out)
    ref.assert_close(out, ref.log_softmax(x), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_is_stable_for_huge_logits(dtype):
    x = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]], dtype)
    out = np.empty_like(x)
    kernels.softmax(x, out)
    np.testing.assert_allclose(out, [[1, 0, 0], [1 / 3, 1 / 3, 1 / 3]], rtol=1e-6)
    kernels.log_softmax(x, out)
    assert np.all(np.isfinite(out))
    ref.assert_close(out, ref.log_softmax(x), dtype)


def test_softmax_backward_matches_finite_differences(rng):
    x = rng.standard_normal((3, 4))
    r = rng.standard_normal((3, 4))
    out = np.empty_like(x)

    def loss():
        kernels.softmax(x, out)
        return float(np.sum(r * out))

    loss()
    dx = np.empty_like(x)
    kernels.softmax_backward(out.copy(), r, dx)
    np.testing.assert_allclose(
        dx, ref.numerical_gradient(loss, x), rtol=1e-6, atol=1e-9
    )
