"""Behaviour of fastnn.sklearn through the public scikit-learn API: what
scikit-learn's own MLP tests ask of MLPClassifier/MLPRegressor, plus model
selection, persistence, pandas and sparse input."""

import os
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

import joblib  # noqa: E402
import scipy.sparse as sp  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_digits, make_classification  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from fastnn._sklearn_network import Layout, Network, init_parameters  # noqa: E402
from fastnn.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:300] / 16.0, y[:300]


@pytest.fixture(scope="module")
def small_regression():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (150, 4))
    y = np.sin(2 * X[:, 0]) + X[:, 1] * X[:, 2]
    return X, y


def quiet(function, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return function(*args, **kwargs)


# ------------------------------------------------------------- gradients
@pytest.mark.parametrize(
    "loss,out",
    [
        ("log_loss", "softmax"),
        ("binary_log_loss", "logistic"),
        ("squared_error", "identity"),
        ("poisson", "exp"),
    ],
)
@pytest.mark.parametrize("hidden", ["identity", "logistic", "tanh", "relu"])
def test_backprop_gradient_matches_finite_differences(loss, out, hidden):
    rng = np.random.default_rng(1)
    # scikit-learn's squared error averages over outputs while its gradient
    # sums over them (kept for parity), so it is exact for one output only
    n_out = 1 if loss == "squared_error" else 3
    units = [4, 5, 3, n_out]
    layout = Layout(units)
    flat = layout.pack(
        *init_parameters(units, hidden, np.random.RandomState(0), np.float64),
        np.float64,
    )
    X = rng.standard_normal((7, 4))
    if out == "softmax":
        Y = np.eye(3)[rng.integers(0, 3, 7)]
    elif out == "logistic":
        Y = rng.integers(0, 2, (7, 3)).astype(float)
    else:
        Y = rng.uniform(0, 2, (7, n_out))
    weights = rng.uniform(0.5, 2.0, 7)
    network = Network(layout, hidden, out, loss, alpha=0.3)
    grad = np.empty_like(flat)
    network.loss_and_grad(flat, grad, X, Y, weights)
    numeric = np.empty_like(flat)
    scratch = np.empty_like(flat)
    for i in range(flat.size):
        step = np.zeros_like(flat)
        step[i] = 1e-6
        up = network.loss_and_grad(flat + step, scratch, X, Y, weights)
        down = network.loss_and_grad(flat - step, scratch, X, Y, weights)
        numeric[i] = (up - down) / 2e-6
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8)


# ---------------------------------------------------------- learning
def test_alpha_shrinks_weights(digits):
    X, y = digits
    norms = []
    for alpha in (0.0, 1.0, 10.0):
        clf = quiet(
            MLPClassifier(
                hidden_layer_sizes=(10,), alpha=alpha, max_iter=30, random_state=0
            ).fit,
            X,
            y,
        )
        norms.append(sum(np.abs(c).sum() for c in clf.coefs_))
    assert norms[0] > norms[1] > norms[2]


@pytest.mark.parametrize("solver", ["lbfgs", "sgd", "adam"])
def test_classifier_learns_digits(digits, solver):
    X, y = digits
    clf = quiet(
        MLPClassifier(
            hidden_layer_sizes=(30,),
            solver=solver,
            max_iter=60,
            random_state=1,
            learning_rate_init=0.05 if solver == "sgd" else 0.01,
        ).fit,
        X,
        y,
    )
    assert clf.score(X, y) > 0.95
    proba = clf.predict_proba(X)
    assert proba.shape == (300, 10)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(clf.classes_[proba.argmax(axis=1)], clf.predict(X))
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(proba))


@pytest.mark.parametrize("solver", ["lbfgs", "adam"])
def test_regressor_learns_smooth_function(small_regression, solver):
    X, y = small_regression
    reg = quiet(
        MLPRegressor(
            hidden_layer_sizes=(20,),
            activation="tanh",
            solver=solver,
            max_iter=300,
            learning_rate_init=0.02,
            tol=1e-7,
            random_state=0,
        ).fit,
        X,
        y,
    )
    assert reg.score(X, y) > 0.9
    assert reg.predict(X).shape == (150,)


def test_multioutput_regression(small_regression):
    X, y = small_regression
    Y = np.column_stack([y, -y])
    reg = quiet(
        MLPRegressor(
            solver="lbfgs", hidden_layer_sizes=(20,), max_iter=200, random_state=0
        ).fit,
        X,
        Y,
    )
    assert reg.predict(X).shape == (150, 2) and reg.n_outputs_ == 2
    assert reg.score(X, Y) > 0.9


def test_lbfgs_max_fun_bounds_function_calls(digits):
    X, y = digits
    with pytest.warns(ConvergenceWarning):
        clf = MLPClassifier(
            solver="lbfgs", hidden_layer_sizes=(5,), max_fun=8, random_state=0
        ).fit(X, y)
    assert clf.n_iter_ <= 8


def test_binary_predict_proba(digits):
    X, y = digits
    clf = quiet(
        MLPClassifier(hidden_layer_sizes=(5,), max_iter=20, random_state=0).fit,
        X,
        y > 4,
    )
    proba = clf.predict_proba(X)
    assert clf.n_outputs_ == 1 and clf.out_activation_ == "logistic"
    assert proba.shape == (300, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_multilabel_uses_logistic_outputs(digits):
    X, y = digits
    Y = np.column_stack([y > 4, y % 2 == 0, y == 7]).astype(int)
    clf = quiet(
        MLPClassifier(
            solver="lbfgs", hidden_layer_sizes=(30,), max_iter=100, random_state=0
        ).fit,
        X,
        Y,
    )
    assert clf.out_activation_ == "logistic"
    proba = clf.predict_proba(X)
    assert proba.shape == (300, 3) and not np.allclose(proba.sum(axis=1), 1.0)
    assert clf.predict(X).shape == (300, 3)
    assert clf.score(X, Y) > 0.9


def test_string_labels_and_early_stopping_split(digits):
    X, y = digits
    names = np.array(
        [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
        ],
        dtype=object,
    )[y]
    clf = quiet(
        MLPClassifier(
            hidden_layer_sizes=(10,), early_stopping=True, max_iter=15, random_state=0
        ).fit,
        X,
        names,
    )
    assert set(clf.predict(X)) <= set(names)
    assert len(clf.validation_scores_) == clf.n_iter_
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    assert clf.best_loss_ is None


def test_early_stopping_needs_two_validation_rows():
    X, y = make_classification(12, 4, n_informative=2, random_state=0)
    with pytest.raises(ValueError, match="validation set is too small"):
        MLPRegressor(early_stopping=True, validation_fraction=0.05).fit(X, y * 1.0)


def test_adaptive_learning_rate_is_divided_by_five(digits):
    X, y = digits
    clf = MLPClassifier(
        solver="sgd",
        learning_rate="adaptive",
        tol=0.5,
        n_iter_no_change=1,
        max_iter=40,
        random_state=0,
    ).fit(X, y)
    assert clf._optimizer.learning_rate <= 1e-6
    assert clf.n_iter_ < 40


def test_n_iter_no_change_and_tolerance(digits):
    X, y = digits
    stopped = MLPClassifier(
        hidden_layer_sizes=(5,),
        tol=10.0,
        n_iter_no_change=3,
        max_iter=50,
        random_state=0,
    ).fit(X, y)
    assert (
        stopped.n_iter_ == 5
    )  # the first epoch improves on inf, then n_iter_no_change + 1 without gain
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        endless = MLPClassifier(
            hidden_layer_sizes=(5,),
            tol=10.0,
            n_iter_no_change=np.inf,
            max_iter=6,
            random_state=0,
        ).fit(X, y)
    assert endless.n_iter_ == 6 and len(endless.loss_curve_) == 6


def test_shuffle_changes_the_path(digits):
    X, y = digits
    fits = [
        quiet(
            MLPClassifier(
                hidden_layer_sizes=(5,), max_iter=3, shuffle=shuffle, random_state=0
            ).fit,
            X,
            y,
        )
        for shuffle in (True, True, False)
    ]
    np.testing.assert_array_equal(fits[0].coefs_[0], fits[1].coefs_[0])
    assert not np.allclose(fits[0].coefs_[0], fits[2].coefs_[0])


def test_verbose_prints_losses(digits, capsys):
    X, y = digits
    quiet(
        MLPClassifier(
            hidden_layer_sizes=(5,), max_iter=2, verbose=True, random_state=0
        ).fit,
        X,
        y,
    )
    assert "Iteration 2, loss = " in capsys.readouterr().out


# --------------------------------------------------- partial_fit, warm_start
def test_partial_fit_equals_fit_for_one_epoch(digits):
    X, y = digits
    params = dict(
        hidden_layer_sizes=(8,),
        solver="sgd",
        shuffle=False,
        batch_size=300,
        random_state=0,
        max_iter=1,
    )
    fitted = quiet(MLPClassifier(**params).fit, X, y)
    partial = MLPClassifier(**params).partial_fit(X, y, classes=np.unique(y))
    for a, b in zip(fitted.coefs_, partial.coefs_):
        np.testing.assert_array_equal(a, b)


def test_partial_fit_errors(digits):
    X, y = digits
    assert not hasattr(MLPClassifier(solver="lbfgs"), "partial_fit")
    assert not hasattr(MLPRegressor(solver="lbfgs"), "partial_fit")
    with pytest.raises(ValueError, match="classes must be passed"):
        MLPClassifier(solver="sgd").partial_fit(X, y)
    clf = MLPClassifier(max_iter=1).partial_fit(
        X[y < 5], y[y < 5], classes=np.arange(5)
    )
    with pytest.raises(ValueError, match="classes not in"):
        clf.partial_fit(X, y)
    with pytest.raises(ValueError, match="early_stopping"):
        MLPClassifier(early_stopping=True).partial_fit(X, y, classes=np.unique(y))


def test_partial_fit_after_fit_continues(digits):
    X, y = digits
    clf = quiet(
        MLPClassifier(hidden_layer_sizes=(5,), max_iter=3, random_state=0).fit, X, y
    )
    before = clf.coefs_[0].copy()
    clf.partial_fit(X, y)
    assert clf.n_iter_ == 1 and not np.allclose(before, clf.coefs_[0])


def test_warm_start_checks_classes_and_continues(digits):
    X, y = digits
    clf = quiet(
        MLPClassifier(
            hidden_layer_sizes=(5,), max_iter=2, warm_start=True, random_state=0
        ).fit,
        X,
        y,
    )
    first = clf.loss_curve_[:]
    quiet(clf.fit, X, y)
    assert clf.loss_curve_[:2] == first and len(clf.loss_curve_) == 4
    with pytest.raises(ValueError, match="warm_start can only be used"):
        clf.fit(X[y < 5], y[y < 5])


def test_user_assigned_coefs_are_used(digits):
    X, y = digits
    clf = quiet(
        MLPClassifier(hidden_layer_sizes=(5,), max_iter=2, random_state=0).fit, X, y
    )
    clf.coefs_ = [np.zeros_like(c) for c in clf.coefs_]
    clf.intercepts_ = [np.zeros_like(b) for b in clf.intercepts_]
    np.testing.assert_allclose(clf.predict_proba(X[:3]), 0.1)


# ------------------------------------------------------- data and dtypes
def test_sparse_input_gives_dense_results(digits):
    X, y = digits
    for solver in ("adam", "lbfgs"):
        dense = quiet(
            MLPClassifier(
                hidden_layer_sizes=(6,), solver=solver, max_iter=5, random_state=0
            ).fit,
            X,
            y,
        )
        for container in (sp.csr_matrix, sp.csc_array):
            sparse = quiet(
                MLPClassifier(
                    hidden_layer_sizes=(6,), solver=solver, max_iter=5, random_state=0
                ).fit,
                container(X),
                y,
            )
            np.testing.assert_allclose(
                sparse.coefs_[0], dense.coefs_[0], rtol=1e-10, atol=1e-12
            )
            np.testing.assert_allclose(
                sparse.predict_proba(container(X)), dense.predict_proba(X), rtol=1e-10
            )


def test_pandas_feature_names(digits):
    pd = pytest.importorskip("pandas")
    X, y = digits
    frame = pd.DataFrame(X[:, :6], columns=[f"f{i}" for i in range(6)])
    reg = quiet(
        MLPRegressor(hidden_layer_sizes=(4,), max_iter=3).fit, frame, y.astype(float)
    )
    np.testing.assert_array_equal(reg.feature_names_in_, frame.columns)
    with pytest.warns(UserWarning, match="feature names"):
        reg.predict(X[:, :6])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_follows_input(digits, dtype):
    X, y = digits
    clf = quiet(
        MLPClassifier(hidden_layer_sizes=(5,), max_iter=2).fit, X.astype(dtype), y
    )
    reg = quiet(
        MLPRegressor(hidden_layer_sizes=(5,), max_iter=2).fit,
        X.astype(dtype),
        y.astype(dtype),
    )
    assert clf.coefs_[0].dtype == dtype and reg.coefs_[0].dtype == dtype
    assert clf.predict_proba(X.astype(dtype)).dtype == dtype
    assert reg.predict(X.astype(dtype)).dtype == dtype


def test_non_finite_weights_raise():
    X = np.array([[1e200, 1e200], [-1e200, 1e200]] * 5)
    with pytest.raises(ValueError, match="non-finite parameter weights"):
        quiet(
            MLPRegressor(solver="sgd", learning_rate_init=10.0, max_iter=3).fit,
            X,
            np.arange(10.0),
        )


def test_invalid_parameters_are_rejected(digits):
    X, y = digits
    for params in (
        dict(solver="newton"),
        dict(alpha=-1.0),
        dict(momentum=2.0),
        dict(batch_size=0),
    ):
        with pytest.raises(ValueError):
            MLPClassifier(**params).fit(X, y)
    with pytest.raises(ValueError, match="hidden_layer_sizes must be > 0"):
        MLPClassifier(hidden_layer_sizes=(3, 0)).fit(X, y)


# ------------------------------------- model selection and persistence
def test_pipeline_grid_search_and_cross_val_score(digits):
    X, y = digits
    pipe = make_pipeline(
        StandardScaler(),
        MLPClassifier(
            hidden_layer_sizes=(10,),
            max_iter=80,
            learning_rate_init=0.01,
            random_state=0,
        ),
    )
    search = quiet(
        GridSearchCV(pipe, {"mlpclassifier__alpha": [1e-4, 1e-1]}, cv=2, n_jobs=2).fit,
        X,
        y,
    )
    assert search.best_score_ > 0.8
    scores = quiet(
        cross_val_score,
        MLPRegressor(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=50),
        X,
        y.astype(float),
        cv=2,
    )
    assert scores.shape == (2,) and np.isfinite(scores).all()


def test_clone_gives_unfitted_copy(digits):
    X, y = digits
    clf = quiet(
        MLPClassifier(hidden_layer_sizes=(5,), max_iter=2, random_state=3).fit, X, y
    )
    copy = clone(clf)
    assert copy.get_params() == clf.get_params() and not hasattr(copy, "coefs_")


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_pickled_estimator_predicts_and_trains_identically(digits, solver, tmp_path):
    X, y = digits
    clf = quiet(
        MLPClassifier(
            hidden_layer_sizes=(6,), solver=solver, max_iter=3, random_state=0
        ).fit,
        X,
        y,
    )
    path = tmp_path / "mlp.joblib"
    joblib.dump(clf, path)
    loaded = joblib.load(path)
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    for other in (loaded, restored):
        other.partial_fit(X, y)
    clf.partial_fit(X, y)
    for other in (loaded, restored):
        for a, b in zip(clf.coefs_ + clf.intercepts_, other.coefs_ + other.intercepts_):
            np.testing.assert_array_equal(a, b)
        assert other.loss_curve_ == clf.loss_curve_


# ----------------------------------------------------------- packaging
def _run(code):
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True
    )


def test_importing_fastnn_does_not_import_sklearn():
    result = _run("import sys, fastnn; print('sklearn' in sys.modules)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_missing_sklearn_gives_install_hint():
    code = "import sys; sys.modules['sklearn'] = None\nimport fastnn.sklearn"
    result = _run(code)
    assert result.returncode != 0
    assert 'pip install ".[sklearn]"' in result.stderr


def test_example_script_runs():
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "examples", "sklearn_pipeline.py")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "test accuracy" in result.stdout
