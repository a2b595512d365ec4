"""fastnn.sklearn against scikit-learn itself: same data, same parameters and
random_state give the same weights, losses and stopping points (float64)."""

import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn import neural_network as reference  # noqa: E402
from sklearn.datasets import make_classification, make_regression  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

from fastnn import sklearn as fast  # noqa: E402

ACTIVATIONS = ["identity", "logistic", "tanh", "relu"]


def _pair(name, X, y, sample_weight=None, **params):
    """(reference, fastnn) estimators of class ``name`` fitted alike."""
    fitted = []
    for module in (reference, fast):
        estimator = getattr(module, name)(**params)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            estimator.fit(X, y, sample_weight=sample_weight)
        fitted.append(estimator)
    return fitted


def _assert_same_fit(ref, ours, rtol=1e-7, atol=1e-10):
    assert ours.n_iter_ == ref.n_iter_
    assert ours.n_layers_ == ref.n_layers_
    assert ours.n_outputs_ == ref.n_outputs_
    assert ours.out_activation_ == ref.out_activation_
    for a, b in zip(ref.coefs_ + ref.intercepts_, ours.coefs_ + ours.intercepts_):
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_allclose(b, a, rtol=rtol, atol=atol)
    np.testing.assert_allclose(ours.loss_, ref.loss_, rtol=rtol)
    if hasattr(ref, "loss_curve_"):
        np.testing.assert_allclose(ours.loss_curve_, ref.loss_curve_, rtol=rtol)
        assert ours.t_ == ref.t_


@pytest.fixture(scope="module")
def classification():
    return make_classification(
        90, 6, n_informative=4, n_classes=3, n_clusters_per_class=1, random_state=0
    )


@pytest.fixture(scope="module")
def regression():
    X, y = make_regression(90, 5, n_targets=2, noise=0.1, random_state=0)
    return X, y / 100


@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_classifier_matches_sklearn(classification, solver, activation):
    X, y = classification
    ref, ours = _pair(
        "MLPClassifier",
        X,
        y,
        hidden_layer_sizes=(6, 4),
        activation=activation,
        solver=solver,
        max_iter=15,
        batch_size=25,
        alpha=1e-3,
        random_state=3,
    )
    # L-BFGS amplifies rounding differences along its path, hence the
    # looser (still tight) tolerance there
    rtol = 1e-6 if solver == "lbfgs" else 1e-9
    _assert_same_fit(ref, ours, rtol=rtol, atol=1e-8)
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), rtol=1e-6)


@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_regressor_matches_sklearn(regression, solver, activation):
    X, y = regression
    ref, ours = _pair(
        "MLPRegressor",
        X,
        y,
        hidden_layer_sizes=(7,),
        activation=activation,
        solver=solver,
        max_iter=15,
        batch_size=30,
        random_state=0,
    )
    _assert_same_fit(ref, ours, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(ours.predict(X), ref.predict(X), rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize(
    "params",
    [
        dict(solver="sgd", learning_rate="adaptive", learning_rate_init=0.5, tol=0.1),
        dict(solver="sgd", learning_rate="invscaling", nesterovs_momentum=False),
        dict(solver="sgd", momentum=0.0, shuffle=False),
        dict(solver="adam", early_stopping=True, validation_fraction=0.25),
        dict(solver="adam", n_iter_no_change=2, tol=1e-2, learning_rate_init=0.05),
        dict(solver="adam", batch_size="auto", beta_1=0.5, epsilon=1e-6),
    ],
    ids=[
        "adaptive",
        "invscaling",
        "plain-noshuffle",
        "early-stop",
        "no-change",
        "betas",
    ],
)
def test_solver_options_match_sklearn(classification, params):
    X, y = classification
    ref, ours = _pair(
        "MLPClassifier",
        X,
        y,
        hidden_layer_sizes=(5,),
        max_iter=40,
        random_state=1,
        **params,
    )
    _assert_same_fit(ref, ours, rtol=1e-9, atol=1e-10)
    if params.get("early_stopping"):
        np.testing.assert_allclose(ours.validation_scores_, ref.validation_scores_)
        assert ours.best_validation_score_ == ref.best_validation_score_
        assert ours.best_loss_ is None and ref.best_loss_ is None
    else:
        assert ours.best_loss_ == pytest.approx(ref.best_loss_, rel=1e-9)


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_binary_multilabel_and_weights_match_sklearn(solver):
    X, Y = make_classification(80, 5, random_state=2)[0], None
    rng = np.random.default_rng(0)
    Y = (X[:, :3] + 0.3 * rng.standard_normal((80, 3)) > 0).astype(int)
    weights = rng.uniform(0.2, 2.0, 80)
    for y in (Y[:, 0], Y):  # binary (one logistic output), then multilabel
        ref, ours = _pair(
            "MLPClassifier",
            X,
            y,
            sample_weight=weights,
            solver=solver,
            hidden_layer_sizes=(6,),
            max_iter=20,
            random_state=4,
        )
        _assert_same_fit(ref, ours, rtol=1e-6, atol=1e-9)
        np.testing.assert_array_equal(ours.predict(X), ref.predict(X))


def test_partial_fit_and_warm_start_match_sklearn(classification):
    X, y = classification
    models = []
    for module in (reference, fast):
        clf = module.MLPClassifier(
            hidden_layer_sizes=(5,), solver="sgd", random_state=0
        )
        for lo in range(0, 90, 30):
            clf.partial_fit(X[lo : lo + 30], y[lo : lo + 30], classes=np.unique(y))
        warm = module.MLPClassifier(
            hidden_layer_sizes=(5,), max_iter=5, warm_start=True, random_state=0
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            warm.fit(X, y).fit(X, y)
        models.append((clf, warm))
    for ref, ours in zip(*models):
        _assert_same_fit(ref, ours, rtol=1e-9, atol=1e-12)


def test_float32_matches_sklearn(classification):
    X, y = classification
    X = X.astype(np.float32)
    ref, ours = _pair(
        "MLPClassifier", X, y, hidden_layer_sizes=(5,), max_iter=10, random_state=0
    )
    assert ours.coefs_[0].dtype == np.float32
    _assert_same_fit(ref, ours, rtol=1e-4, atol=1e-5)


def test_poisson_matches_sklearn():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((80, 4))
    y = rng.poisson(np.exp(0.5 * X[:, 0]))
    for solver in ("adam", "lbfgs"):
        ref, ours = _pair(
            "MLPRegressor",
            X,
            y,
            loss="poisson",
            solver=solver,
            hidden_layer_sizes=(4,),
            max_iter=15,
            random_state=0,
        )
        assert ours.out_activation_ == "exp"
        _assert_same_fit(ref, ours, rtol=1e-7, atol=1e-10)
