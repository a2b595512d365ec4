"""Losses with per-row sample weights, against float64 references and finite
differences."""

import numpy as np
import pytest

from fastnn import kernels
from tests import reference as ref

DTYPES = [np.float32, np.float64]


def case(rng, name, dtype, shape=(9, 4)):
    x = (2 * rng.standard_normal(shape)).astype(dtype)
    if name == "softmax_cross_entropy":
        y = rng.integers(0, shape[1], shape[0])
    elif name == "mse":
        y = rng.standard_normal(shape).astype(dtype)
    else:
        y = rng.random(shape).astype(dtype)
    w = (3 * rng.random(shape[0])).astype(dtype)
    w[2] = 0.0  # a zero weight drops its row
    return x, y, w


NAMES = ["softmax_cross_entropy", "mse", "binary_cross_entropy_with_logits"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", NAMES)
def test_weighted_loss_and_gradient_match_reference(rng, name, dtype):
    x, y, w = case(rng, name, dtype)
    grad = np.empty_like(x)
    loss = getattr(kernels, name)(x, y, grad, sample_weight=w)
    exp_loss, exp_grad = getattr(ref, name)(x, y, w)
    ref.assert_close(loss, exp_loss, dtype)
    ref.assert_close(grad, exp_grad, dtype)
    np.testing.assert_array_equal(grad[2], 0)


@pytest.mark.parametrize("name", NAMES)
def test_unit_weights_are_bit_for_bit_the_unweighted_loss(rng, name):
    x, y, _ = case(rng, name, np.float32, shape=(33, 7))
    g_plain, g_ones = np.empty_like(x), np.empty_like(x)
    fn = getattr(kernels, name)
    plain = fn(x, y, g_plain)
    ones = fn(x, y, g_ones, sample_weight=np.ones(33, np.float32))
    assert plain == ones
    np.testing.assert_array_equal(g_plain, g_ones)


@pytest.mark.parametrize("name", NAMES)
def test_weighted_gradient_matches_finite_differences(rng, name):
    x, y, w = case(rng, name, np.float64, shape=(5, 3))
    fn = getattr(kernels, name)
    grad = np.empty_like(x)
    fn(x, y, grad, sample_weight=w)
    numeric = ref.numerical_gradient(lambda: fn(x, y, sample_weight=w), x)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)


def test_integer_weights_equal_repeated_rows(rng):
    """Weight 2 on a row is that row twice (in the sum; the divisor stays B)."""
    x, y, _ = case(rng, "softmax_cross_entropy", np.float64, shape=(4, 3))
    w = np.array([2.0, 1.0, 1.0, 1.0])
    repeated = kernels.softmax_cross_entropy(np.vstack([x, x[:1]]), np.r_[y, y[:1]])
    weighted = kernels.softmax_cross_entropy(x, y, sample_weight=w)
    assert weighted * 4 == pytest.approx(repeated * 5, rel=1e-12)


@pytest.mark.parametrize(
    "weights, message",
    [
        (np.ones(8), "sample_weight: expected shape"),
        (np.ones((9, 1)), "sample_weight: expected shape"),
        (np.r_[np.ones(8), -1.0], "sample_weight: must be >= 0"),
        (np.r_[np.ones(8), np.nan], "sample_weight: must be finite"),
    ],
)
def test_bad_weights_are_refused(rng, weights, message):
    x, y, _ = case(rng, "mse", np.float64)
    with pytest.raises(ValueError, match=message):
        kernels.mse(x, y, sample_weight=weights)


def test_weights_of_another_dtype_are_refused(rng):
    x, y, _ = case(rng, "mse", np.float32)
    with pytest.raises(TypeError, match="sample_weight: dtype float64"):
        kernels.mse(x, y, sample_weight=np.ones(9))


def test_weights_must_not_alias_the_gradient(rng):
    x, y, _ = case(rng, "mse", np.float64, shape=(9, 1))
    grad = np.empty_like(x)
    with pytest.raises(ValueError, match="dpred: must not share memory"):
        kernels.mse(x, y, grad, sample_weight=grad.reshape(9))
