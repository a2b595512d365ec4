"""fastnn.sklearn's compiled epoch (``fastnn._sklearn_epoch``) against the
estimator's per-batch loop: the same fits must give the same bits."""

import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

from fastnn import _sklearn_epoch  # noqa: E402
from fastnn.sklearn import MLPClassifier, MLPRegressor  # noqa: E402


def _data(classes, n=157, features=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, features))
    y = rng.integers(0, classes, n)
    return X, y, rng.uniform(0.0, 2.0, n)


def _fit(compiled, monkeypatch, X, y, sample_weight=None, estimator=MLPClassifier,
         **params):  # fmt: skip
    """A fitted classifier, with or without the compiled epoch, and whether
    the compiled epoch ran."""
    ran = []
    original = _sklearn_epoch.CompiledEpochs.run

    def spy(self, *args):
        ran.append(True)
        return original(self, *args)

    with monkeypatch.context() as patch:
        patch.setattr(_sklearn_epoch.CompiledEpochs, "run", spy)
        if not compiled:
            patch.setattr(
                _sklearn_epoch.CompiledEpochs, "applies", staticmethod(lambda *a: False)
            )
        model = estimator(random_state=0, **params)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X, y, sample_weight=sample_weight)
    return model, bool(ran)


def _assert_same_fit(a, b):
    np.testing.assert_array_equal(a.loss_curve_, b.loss_curve_)
    assert a.n_iter_ == b.n_iter_ and a.t_ == b.t_
    for ca, cb in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        np.testing.assert_array_equal(ca, cb)
    if hasattr(a, "predict_proba"):
        np.testing.assert_array_equal(a.predict_proba(a._X), b.predict_proba(a._X))
    else:
        np.testing.assert_array_equal(a.predict(a._X), b.predict(a._X))


CASES = [
    dict(solver="adam"),
    dict(solver="sgd", momentum=0.9, nesterovs_momentum=True),
    dict(solver="sgd", momentum=0.5, nesterovs_momentum=False),
    dict(solver="sgd", momentum=0.0, learning_rate="invscaling"),
    dict(solver="adam", shuffle=False),
    dict(solver="adam", alpha=0.0),
]


@pytest.mark.parametrize("classes", [2, 3])
@pytest.mark.parametrize("params", CASES)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_compiled_epoch_equals_the_per_batch_loop(
    monkeypatch, classes, params, weighted, dtype
):
    X, y, w = _data(classes)
    X = X.astype(dtype)
    kwargs = dict(hidden_layer_sizes=(9, 5), batch_size=32, max_iter=4, **params)
    w = w if weighted else None
    compiled, ran = _fit(True, monkeypatch, X, y, w, **kwargs)
    stepwise, ran_stepwise = _fit(False, monkeypatch, X, y, w, **kwargs)
    assert ran and not ran_stepwise
    compiled._X = X
    _assert_same_fit(compiled, stepwise)
    assert compiled.coefs_[0].dtype == dtype


@pytest.mark.parametrize("batch_size", [1, 50, 157, 400])
def test_batch_sizes_from_one_row_to_more_than_the_data(monkeypatch, batch_size):
    """Every batch full, a short last one, one batch, and batch > n (clipped
    to n: one full batch)."""
    X, y, _ = _data(3)
    kwargs = dict(hidden_layer_sizes=(7,), batch_size=batch_size, max_iter=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the clipping warning
        compiled, ran = _fit(True, monkeypatch, X, y, **kwargs)
        stepwise, _ = _fit(False, monkeypatch, X, y, **kwargs)
    assert ran
    compiled._X = X
    _assert_same_fit(compiled, stepwise)


def test_early_stopping_and_partial_fit(monkeypatch):
    X, y, _ = _data(3, n=300)
    kwargs = dict(
        hidden_layer_sizes=(8,), batch_size=20, max_iter=6, early_stopping=True
    )
    compiled, ran = _fit(True, monkeypatch, X, y, **kwargs)
    stepwise, _ = _fit(False, monkeypatch, X, y, **kwargs)
    assert ran
    compiled._X = X
    _assert_same_fit(compiled, stepwise)
    assert compiled.validation_scores_ == stepwise.validation_scores_

    models = []
    for compiled_epoch in (True, False):
        with monkeypatch.context() as patch:
            if not compiled_epoch:
                patch.setattr(
                    _sklearn_epoch.CompiledEpochs,
                    "applies",
                    staticmethod(lambda *a: False),
                )
            model = MLPClassifier(
                hidden_layer_sizes=(8,), batch_size=16, random_state=1
            )
            for _ in range(3):
                model.partial_fit(X, y, classes=[0, 1, 2])
            models.append(model)
    models[0]._X = X
    _assert_same_fit(*models)


def test_sparse_and_multilabel_fits_take_the_per_batch_loop(monkeypatch):
    import scipy.sparse as sp

    X, y, _ = _data(3)
    _, ran = _fit(True, monkeypatch, sp.csr_matrix(X), y, max_iter=1)
    assert not ran
    multilabel = np.stack([y == 0, y == 1], axis=1).astype(int)
    _, ran = _fit(True, monkeypatch, X, multilabel, max_iter=1)
    assert not ran


def test_binary_fit_stays_close_to_scikit_learn():
    """The fused binary path's loss is not clipped at float eps (documented);
    on an ordinary problem the fit equals scikit-learn's to rounding."""
    from sklearn.neural_network import MLPClassifier as Reference

    X, y, _ = _data(2, n=200)
    params = dict(hidden_layer_sizes=(10,), batch_size=25, max_iter=5, random_state=0)
    ours, ref = MLPClassifier(**params), Reference(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours.fit(X, y)
        ref.fit(X, y)
    np.testing.assert_allclose(ours.loss_curve_, ref.loss_curve_, rtol=1e-10)
    for a, b in zip(ours.coefs_, ref.coefs_):
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("n", [1, 2, 157, 1000])
def test_shuffle_equals_scikit_learns_and_leaves_the_generator_alike(n):
    from sklearn.utils import shuffle

    from fastnn._sklearn_base import _shuffled

    ours, theirs = np.random.RandomState(7), np.random.RandomState(7)
    idx = np.arange(n) * 3
    for _ in range(3):
        a, b = _shuffled(idx, ours), shuffle(idx, random_state=theirs)
        np.testing.assert_array_equal(a, b)
        idx = a
    assert ours.randint(10**9) == theirs.randint(10**9)


@pytest.mark.parametrize("outputs", [1, 3])
@pytest.mark.parametrize("params", CASES[:3])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_regressor_compiled_epoch_equals_the_per_batch_loop(
    monkeypatch, outputs, params, weighted, dtype
):
    X, _, w = _data(2)
    rng = np.random.default_rng(1)
    y = X[:, :outputs] * 0.5 + rng.normal(scale=0.1, size=(len(X), outputs))
    y = y[:, 0] if outputs == 1 else y
    X = X.astype(dtype)
    kwargs = dict(hidden_layer_sizes=(9,), batch_size=40, max_iter=3, **params)
    w = w if weighted else None
    compiled, ran = _fit(True, monkeypatch, X, y, w, MLPRegressor, **kwargs)
    stepwise, ran_stepwise = _fit(False, monkeypatch, X, y, w, MLPRegressor, **kwargs)
    assert ran and not ran_stepwise
    compiled._X = X
    _assert_same_fit(compiled, stepwise)


def test_poisson_regression_takes_the_per_batch_loop(monkeypatch):
    X, _, _ = _data(2)
    y = np.exp(X[:, 0] * 0.3)
    _, ran = _fit(
        True, monkeypatch, X, y, None, MLPRegressor, loss="poisson", max_iter=1
    )
    assert not ran


def test_a_batch_that_overflows_stops_the_compiled_run_and_goes_the_slow_way(
    monkeypatch,
):
    """Rows from 100 on overflow: the compiled run trains batches 0 and 1,
    stops before batch 2 (rows 80-119), and the estimator trains the rest
    through the separate kernels, which carry the overflow into the weights
    as scikit-learn does: both paths raise scikit-learn's error."""
    X, _, _ = _data(2)
    X[100:] = 1e200
    y = np.arange(len(X), dtype=float)
    results = []
    original = _sklearn_epoch.CompiledEpochs.run

    def spy(self, *args):
        results.append(original(self, *args))
        return results[-1]

    params = dict(solver="sgd", learning_rate_init=0.01, batch_size=40, max_iter=2)
    monkeypatch.setattr(_sklearn_epoch.CompiledEpochs, "run", spy)
    with pytest.raises(ValueError, match="non-finite parameter weights"):
        _fit(True, monkeypatch, X, y, None, MLPRegressor, shuffle=False, **params)
    assert results[0][1] == 2 and np.isfinite(results[0][0])
    with pytest.raises(ValueError, match="non-finite parameter weights"):
        _fit(False, monkeypatch, X, y, None, MLPRegressor, shuffle=False, **params)
