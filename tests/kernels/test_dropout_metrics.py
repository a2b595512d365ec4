import numpy as np
import pytest

from fastnn import kernels
from tests import reference as ref


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("p", [0.0, 0.25, 0.9])
def test_dropout_forward_and_backward(rng, dtype, p):
    x = rng.standard_normal((5, 7)).astype(dtype)
    u = rng.random((5, 7)).astype(dtype)
    out = np.empty_like(x)
    kernels.dropout_forward(x, u, out, p)
    mask = (u.astype(np.float64) >= p) / (1 - p)
    ref.assert_close(out, x * mask, dtype)
    dout = rng.standard_normal(x.shape).astype(dtype)
    dx = np.empty_like(x)
    kernels.dropout_backward(u, dout, dx, p)
    ref.assert_close(dx, dout * mask, dtype)


def test_dropout_rejects_p_of_one():
    z = np.zeros(3)
    with pytest.raises(ValueError, match="p: must be in"):
        kernels.dropout_forward(z, z, z.copy(), 1.0)


def test_count_correct(rng):
    logits = rng.standard_normal((50, 4))
    labels = rng.integers(0, 4, 50)
    assert kernels.count_correct(logits, labels) == int(
        np.sum(logits.argmax(1) == labels)
    )


def test_count_correct_binary(rng):
    logits = rng.standard_normal((20, 3))
    target = rng.integers(0, 2, (20, 3)).astype(np.float64)
    expected = int(np.sum((logits > 0) == (target > 0.5)))
    assert kernels.count_correct_binary(logits, target) == expected


def test_dropout_backward_matches_finite_differences(rng):
    """With the noise fixed, dropout is linear in x: its backward is exact."""
    x = rng.standard_normal((3, 4))
    u = rng.random((3, 4))
    r = rng.standard_normal((3, 4))
    out = np.empty_like(x)

    def loss():
        kernels.dropout_forward(x, u, out, 0.4)
        return float(np.sum(r * out))

    dx = np.empty_like(x)
    kernels.dropout_backward(u, r, dx, 0.4)
    np.testing.assert_allclose(
        dx, ref.numerical_gradient(loss, x), rtol=1e-6, atol=1e-9
    )
