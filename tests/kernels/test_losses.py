import numpy as np
import pytest

from fastnn import kernels
from tests import reference as ref

DTYPES = [np.float32, np.float64]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("label_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("shape", [(1, 1), (1, 10), (7, 3), (256, 10), (50, 1000)])
def test_softmax_cross_entropy_matches_reference(rng, dtype, label_dtype, shape):
    logits = (3 * rng.standard_normal(shape)).astype(dtype)
    labels = rng.integers(0, shape[1], shape[0]).astype(label_dtype)
    dlogits = np.empty_like(logits)
    loss = kernels.softmax_cross_entropy(logits, labels, dlogits)
    exp_loss, exp_grad = ref.softmax_cross_entropy(logits, labels)
    assert isinstance(loss, float)
    ref.assert_close(loss, exp_loss, dtype)
    ref.assert_close(dlogits, exp_grad, dtype)
    assert kernels.softmax_cross_entropy(logits, labels) == pytest.approx(
        loss, rel=1e-12
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_cross_entropy_finite_for_huge_logits(dtype):
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, -1e4], [1e4, 1e4, 1e4]], dtype)
    labels = np.array([1, 1, 2])
    dlogits = np.empty_like(logits)
    loss = kernels.softmax_cross_entropy(logits, labels, dlogits)
    assert np.isfinite(loss) and np.all(np.isfinite(dlogits))
    exp_loss, exp_grad = ref.softmax_cross_entropy(logits, labels)
    assert loss == pytest.approx(exp_loss, rel=1e-6)
    np.testing.assert_allclose(dlogits, exp_grad, atol=1e-7)


def test_softmax_cross_entropy_matches_finite_differences(rng):
    logits = rng.standard_normal((4, 5))
    labels = np.array([0, 4, 2, 2])
    dlogits = np.empty_like(logits)
    kernels.softmax_cross_entropy(logits, labels, dlogits)
    numeric = ref.numerical_gradient(
        lambda: kernels.softmax_cross_entropy(logits, labels), logits
    )
    np.testing.assert_allclose(dlogits, numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("bad", [-1, 3, 100])
def test_softmax_cross_entropy_rejects_labels_out_of_range(bad):
    logits = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match="labels"):
        kernels.softmax_cross_entropy(logits, np.array([0, bad]))


def test_softmax_cross_entropy_rejects_empty_batch():
    with pytest.raises(ValueError, match="empty"):
        kernels.softmax_cross_entropy(np.zeros((0, 3)), np.zeros(0, np.int64))


def test_softmax_cross_entropy_rejects_float_labels():
    with pytest.raises(TypeError, match="labels"):
        kernels.softmax_cross_entropy(np.zeros((2, 3)), np.zeros(2))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1,), (5, 1), (8, 3), (100, 7)])
def test_mse_matches_reference(rng, dtype, shape):
    pred = rng.standard_normal(shape).astype(dtype)
    target = rng.standard_normal(shape).astype(dtype)
    dpred = np.empty_like(pred)
    loss = kernels.mse(pred, target, dpred)
    exp_loss, exp_grad = ref.mse(pred, target)
    ref.assert_close(loss, exp_loss, dtype)
    ref.assert_close(dpred, exp_grad, dtype)


def test_mse_matches_finite_differences(rng):
    pred, target = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    dpred = np.empty_like(pred)
    kernels.mse(pred, target, dpred)
    numeric = ref.numerical_gradient(lambda: kernels.mse(pred, target), pred)
    np.testing.assert_allclose(dpred, numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1,), (5, 1), (8, 3)])
def test_bce_with_logits_matches_reference(rng, dtype, shape):
    logits = (4 * rng.standard_normal(shape)).astype(dtype)
    target = rng.uniform(0, 1, shape).astype(dtype)
    dlogits = np.empty_like(logits)
    loss = kernels.binary_cross_entropy_with_logits(logits, target, dlogits)
    exp_loss, exp_grad = ref.binary_cross_entropy_with_logits(logits, target)
    ref.assert_close(loss, exp_loss, dtype)
    ref.assert_close(dlogits, exp_grad, dtype)


def test_bce_with_logits_stable_for_huge_logits():
    logits = np.array([1e4, -1e4, 50.0, -50.0])
    target = np.array([0.0, 1.0, 1.0, 0.0])
    dlogits = np.empty_like(logits)
    loss = kernels.binary_cross_entropy_with_logits(logits, target, dlogits)
    assert loss == pytest.approx((1e4 + 1e4 + np.log1p(np.exp(-50)) * 2) / 4)
    np.testing.assert_allclose(dlogits, [0.25, -0.25, 0.0, 0.0], atol=1e-12)


def test_bce_with_logits_matches_finite_differences(rng):
    logits, target = rng.standard_normal(6), rng.uniform(0, 1, 6)
    dlogits = np.empty_like(logits)
    kernels.binary_cross_entropy_with_logits(logits, target, dlogits)
    numeric = ref.numerical_gradient(
        lambda: kernels.binary_cross_entropy_with_logits(logits, target), logits
    )
    np.testing.assert_allclose(dlogits, numeric, rtol=1e-6, atol=1e-9)
