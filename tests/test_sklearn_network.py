"""The one-call softmax path of fastnn.sklearn's network against its
separate-kernel path (which the parity tests hold to scikit-learn)."""

import numpy as np
import pytest

from fastnn._sklearn_network import Layout, Network, init_parameters


@pytest.mark.parametrize("hidden", ["identity", "logistic", "tanh", "relu"])
@pytest.mark.parametrize("weighted", [False, True])
def test_fused_softmax_backprop_equals_separate_kernels(hidden, weighted):
    rng = np.random.default_rng(3)
    units = (7, 9, 5, 4)
    layout = Layout(units)
    network = Network(layout, hidden, "softmax", "log_loss", alpha=1e-3)
    coefs, intercepts = init_parameters(units, hidden, rng, np.float64)
    flat = layout.pack(coefs, intercepts, np.float64)
    X = rng.normal(size=(13, 7))
    Y = np.eye(4)[rng.integers(0, 4, 13)]
    weights = rng.uniform(0.1, 2.0, 13) if weighted else None
    separate, fused = np.empty_like(flat), np.empty_like(flat)
    loss, w_sum = network.backprop(flat, separate, X, Y, weights)
    fused_loss, fused_w_sum = network.backprop(flat, fused, X, Y, weights, fused=True)
    assert fused_w_sum == pytest.approx(w_sum, rel=1e-15)
    assert fused_loss == pytest.approx(loss, rel=1e-13)
    np.testing.assert_allclose(fused, separate, rtol=1e-12, atol=1e-15)


def test_fused_loss_is_not_clipped_where_sklearn_clips():
    # a row fitted to within float eps: sklearn's clipped loss stops at
    # -log(1 - eps); the one-call kernel's log-sum-exp goes below it
    layout = Layout((2, 3))
    network = Network(layout, "identity", "softmax", "log_loss", alpha=0.0)
    flat = layout.pack([np.array([[60.0, 0, 0], [0, 0, 0]])], [np.zeros(3)], float)
    X, Y = np.array([[1.0, 0.0]]), np.array([[1.0, 0.0, 0.0]])
    grad = np.empty_like(flat)
    clipped, _ = network.backprop(flat, grad, X, Y)
    exact, _ = network.backprop(flat, grad, X, Y, fused=True)
    assert clipped == pytest.approx(-np.log1p(-np.finfo(float).eps))
    assert exact == pytest.approx(2 * np.exp(-60.0), rel=1e-12)


def test_small_fits_run_on_one_blas_thread_and_large_ones_as_configured():
    from threadpoolctl import threadpool_info

    from fastnn import _sklearn_base

    def blas_threads():
        return {p["filepath"]: p["num_threads"] for p in threadpool_info()
                if p["user_api"] == "blas"}  # fmt: skip

    before = blas_threads()
    units = [64, 100, 10]  # digits: 7,400 multiply-adds per row
    with _sklearn_base._blas_threads_for(200, units):
        assert set(blas_threads().values()) == {1}
    assert blas_threads() == before
    large_rows = _sklearn_base.SMALL_PRODUCTS // 7_400 + 1
    with _sklearn_base._blas_threads_for(large_rows, units):
        assert blas_threads() == before
