"""fastnn.sklearn's own ``dtype`` parameter: the precision of training,
None (the default) following the input as scikit-learn does."""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning

from fastnn.sklearn import MLPClassifier, MLPRegressor


@pytest.fixture(autouse=True)
def quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def _data(kind):
    if kind == "classifier":
        X, y = make_classification(300, 8, n_informative=5, n_classes=3, random_state=0)
        return MLPClassifier, X, y
    X, y = make_regression(300, 8, n_targets=2, noise=0.1, random_state=0)
    return MLPRegressor, X, y / 100


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
def test_float32_on_float64_data_trains_as_float32_data_does(kind, solver):
    cls, X, y = _data(kind)
    params = dict(hidden_layer_sizes=(12,), solver=solver, max_iter=15, random_state=0)
    forced = cls(dtype="float32", **params).fit(X, y)
    given = cls(**params).fit(X.astype(np.float32), y)
    assert forced.coefs_[0].dtype == np.float32
    for a, b in zip(
        forced.coefs_ + forced.intercepts_, given.coefs_ + given.intercepts_
    ):
        np.testing.assert_array_equal(a, b)
    if solver != "lbfgs":  # L-BFGS keeps no loss curve
        assert forced.loss_curve_ == given.loss_curve_
    assert forced.loss_ == given.loss_
    np.testing.assert_array_equal(forced.predict(X), given.predict(X))


def test_float64_on_float32_data_trains_as_float64_data_does():
    cls, X, y = _data("classifier")
    X32 = X.astype(np.float32)
    params = dict(hidden_layer_sizes=(12,), max_iter=10, random_state=0)
    forced = cls(dtype="float64", **params).fit(X32, y)
    given = cls(**params).fit(X32.astype(np.float64), y)
    assert forced.coefs_[0].dtype == np.float64
    np.testing.assert_array_equal(forced.coefs_[0], given.coefs_[0])
    assert forced.predict_proba(X32).dtype == np.float64


def test_default_follows_the_input_and_outputs_keep_the_precision():
    cls, X, y = _data("classifier")
    model = cls(hidden_layer_sizes=(8,), max_iter=5, random_state=0)
    assert model.fit(X, y).coefs_[0].dtype == np.float64
    assert model.fit(X.astype(np.float32), y).coefs_[0].dtype == np.float32
    model32 = cls(hidden_layer_sizes=(8,), max_iter=5, random_state=0, dtype="float32")
    assert model32.fit(X, y).predict_proba(X).dtype == np.float32


def test_bad_dtype_is_refused_as_sklearn_refuses_parameters():
    cls, X, y = _data("classifier")
    with pytest.raises(ValueError, match="'dtype' parameter"):
        cls(dtype="float16").fit(X, y)


def test_dtype_survives_clone_and_pickle():
    cls, X, y = _data("regressor")
    model = cls(hidden_layer_sizes=(8,), max_iter=5, random_state=0, dtype="float32")
    assert clone(model).get_params()["dtype"] == "float32"
    fitted = pickle.loads(pickle.dumps(model.fit(X, y)))
    assert fitted.dtype == "float32" and fitted.coefs_[0].dtype == np.float32
    fitted.partial_fit(X, y)  # keeps training in float32
    assert fitted.coefs_[0].dtype == np.float32
