"""The one-call softmax and binary-logistic paths of fastnn.sklearn's
network against its separate-kernel path (which the parity tests hold to
scikit-learn), a float64 NumPy reference and finite differences."""

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


def _binary_network(hidden, rng, dtype=np.float64, units=(6, 8, 5, 1)):
    layout = Layout(units)
    network = Network(layout, hidden, "logistic", "log_loss", alpha=0.0)
    coefs, intercepts = init_parameters(units, hidden, rng, dtype)
    return layout, network, layout.pack(coefs, intercepts, dtype)


def _reference_outputs(layout, flat, X, hidden):
    """The network's output-layer values (before any output activation), in
    float64 NumPy."""
    acts = {"identity": lambda z: z, "logistic": lambda z: 1 / (1 + np.exp(-z)),
            "tanh": np.tanh, "relu": lambda z: np.maximum(z, 0)}  # fmt: skip
    coefs, intercepts = layout.views(flat.astype(np.float64))
    a = X.astype(np.float64)
    for i, (w, b) in enumerate(zip(coefs, intercepts)):
        a = a @ w + b
        if i < len(coefs) - 1:
            a = acts[hidden](a)
    return a


def _central_differences(loss, flat, h=1e-6):
    """d loss / d flat by central differences."""
    numeric = np.empty_like(flat)
    for i in range(flat.size):
        up, down = flat.copy(), flat.copy()
        up[i] += h
        down[i] -= h
        numeric[i] = (loss(up) - loss(down)) / (2 * h)
    return numeric


def _reference_bce(layout, flat, X, y, hidden, weights):
    """Mean (weighted) binary cross-entropy of the network, in float64 NumPy."""
    a = _reference_outputs(layout, flat, X, hidden)
    p = 1 / (1 + np.exp(-a[:, 0]))
    terms = -(y[:, 0] * np.log(p) + (1 - y[:, 0]) * np.log(1 - p))
    return np.average(terms, weights=weights)


def _assert_fused_equals_separate(network, flat, X, Y, weights, expected):
    """The fused backprop's loss, weight sum and gradient equal the separate
    kernels', and its loss the float64 reference ``expected``."""
    separate, fused = np.empty_like(flat), np.empty_like(flat)
    loss, w_sum = network.backprop(flat, separate, X, Y, weights)
    fused_loss, fused_w_sum = network.backprop(flat, fused, X, Y, weights, fused=True)
    assert fused_w_sum == pytest.approx(w_sum, rel=1e-15)
    assert fused_loss == pytest.approx(loss, rel=1e-13)
    assert fused_loss == pytest.approx(expected, rel=1e-13)
    np.testing.assert_allclose(fused, separate, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("hidden", ["identity", "logistic", "tanh", "relu"])
@pytest.mark.parametrize("weighted", [False, True])
def test_fused_binary_backprop_equals_separate_kernels_and_reference(hidden, weighted):
    rng = np.random.default_rng(4)
    layout, network, flat = _binary_network(hidden, rng)
    X = rng.normal(size=(11, 6))
    Y = rng.integers(0, 2, (11, 1)).astype(float)
    weights = rng.uniform(0.1, 2.0, 11) if weighted else None
    expected = _reference_bce(layout, flat, X, Y, hidden, weights)
    _assert_fused_equals_separate(network, flat, X, Y, weights, expected)


@pytest.mark.parametrize("hidden", ["logistic", "tanh"])
def test_fused_binary_gradient_matches_finite_differences(hidden):
    rng = np.random.default_rng(5)
    layout, network, flat = _binary_network(hidden, rng, units=(4, 5, 1))
    X = rng.normal(size=(9, 4))
    Y = rng.integers(0, 2, (9, 1)).astype(float)
    weights = rng.uniform(0.2, 1.5, 9)
    grad = np.empty_like(flat)
    network.backprop(flat, grad, X, Y, weights, fused=True)
    numeric = _central_differences(
        lambda p: _reference_bce(layout, p, X, Y, hidden, weights), flat
    )
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)


def test_fused_binary_step_in_float32_is_close_to_float64():
    rng = np.random.default_rng(6)
    layout, network, flat = _binary_network("relu", rng)
    X = rng.normal(size=(10, 6))
    Y = rng.integers(0, 2, (10, 1)).astype(float)
    grad64, grad32 = np.empty_like(flat), np.empty(flat.size, np.float32)
    loss64, _ = network.backprop(flat, grad64, X, Y, fused=True)
    net32 = Network(layout, "relu", "logistic", "log_loss", alpha=0.0)
    loss32, _ = net32.backprop(
        flat.astype(np.float32), grad32, X.astype(np.float32),
        Y.astype(np.float32), fused=True,
    )  # fmt: skip
    assert loss32 == pytest.approx(loss64, rel=1e-5)
    np.testing.assert_allclose(grad32, grad64, rtol=1e-4, atol=1e-6)


def test_which_outputs_are_fused():
    layout = Layout((3, 2))
    multilabel = Network(layout, "relu", "logistic", "binary_log_loss", alpha=0.0)
    assert not multilabel.fused_output(np.zeros((4, 2)))
    binary = Network(Layout((3, 1)), "relu", "logistic", "log_loss", alpha=0.0)
    assert binary.fused_output(np.zeros((4, 1)))
    regression = Network(layout, "relu", "identity", "squared_error", alpha=0.0)
    assert regression.fused_output(np.zeros((4, 2)))
    poisson = Network(layout, "relu", "exp", "poisson", alpha=0.0)
    assert not poisson.fused_output(np.zeros((4, 2)))


def _reference_squared_error(layout, flat, X, Y, hidden, weights):
    """scikit-learn's squared-error loss of the network, in float64 NumPy."""
    a = _reference_outputs(layout, flat, X, hidden)
    return 0.5 * np.average((Y - a) ** 2, weights=weights, axis=0).mean()


@pytest.mark.parametrize("hidden", ["identity", "logistic", "tanh", "relu"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("outputs", [1, 3])
def test_fused_squared_error_equals_separate_kernels_and_reference(
    hidden, weighted, outputs
):
    rng = np.random.default_rng(7)
    units = (5, 8, 6, outputs)
    layout = Layout(units)
    network = Network(layout, hidden, "identity", "squared_error", alpha=0.0)
    coefs, intercepts = init_parameters(units, hidden, rng, np.float64)
    flat = layout.pack(coefs, intercepts, np.float64)
    X = rng.normal(size=(12, 5))
    Y = rng.normal(size=(12, outputs))
    weights = rng.uniform(0.1, 2.0, 12) if weighted else None
    expected = _reference_squared_error(layout, flat, X, Y, hidden, weights)
    _assert_fused_equals_separate(network, flat, X, Y, weights, expected)


def test_fused_squared_error_gradient_is_scikit_learns():
    """scikit-learn's gradient is that of the loss times the outputs (its
    loss averages over outputs, its gradient does not): finite differences
    of the reference loss, times the outputs, must match."""
    rng = np.random.default_rng(8)
    units = (4, 5, 2)
    layout = Layout(units)
    network = Network(layout, "tanh", "identity", "squared_error", alpha=0.0)
    coefs, intercepts = init_parameters(units, "tanh", rng, np.float64)
    flat = layout.pack(coefs, intercepts, np.float64)
    X, Y = rng.normal(size=(7, 4)), rng.normal(size=(7, 2))
    weights = rng.uniform(0.2, 1.5, 7)
    grad = np.empty_like(flat)
    network.backprop(flat, grad, X, Y, weights, fused=True)
    numeric = _central_differences(
        lambda p: _reference_squared_error(layout, p, X, Y, "tanh", weights), flat
    )
    np.testing.assert_allclose(grad, 2 * numeric, rtol=1e-6, atol=1e-9)


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
