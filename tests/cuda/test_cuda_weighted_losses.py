"""CUDA losses with per-row sample weights agree with the float64 reference."""

import numpy as np
import pytest

from fastnn import kernels
from tests import reference as ref

from .conftest import host, to_dev

NAMES = ["softmax_cross_entropy", "mse", "binary_cross_entropy_with_logits"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", NAMES)
def test_weighted_loss_on_the_gpu_matches_reference(rng, name, dtype):
    shape = (7, 3)
    x = (2 * rng.standard_normal(shape)).astype(dtype)
    if name == "softmax_cross_entropy":
        y = rng.integers(0, 3, 7)
    else:
        y = rng.random(shape).astype(dtype)
    w = (3 * rng.random(7)).astype(dtype)
    w[4] = 0.0
    x_d, y_d, w_d = to_dev(x, y, w)
    g_d = to_dev(np.zeros_like(x))[0]
    loss = getattr(kernels, name)(x_d, y_d, g_d, sample_weight=w_d)
    exp_loss, exp_grad = getattr(ref, name)(x, y, w)
    ref.assert_close(loss, exp_loss, dtype)
    ref.assert_close(host(g_d), exp_grad, dtype)
    unweighted = getattr(kernels, name)(x_d, y_d)
    ref.assert_close(unweighted, getattr(ref, name)(x, y)[0], dtype)
