"""Bad inputs to the model API raise ValueError naming the problem."""

import numpy as np
import pytest

import fastnn as fnn


@pytest.fixture
def model():
    m = fnn.Sequential([fnn.Dense(4, 8, activation="relu"), fnn.Dense(8, 3)], seed=0)
    return m.compile(optimizer="sgd", loss="cross_entropy", metrics=["accuracy"])


def data(n=10):
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, 4)), rng.integers(0, 3, n)


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.full((10, 4), np.nan), "NaN or infinite"),
        (np.full((10, 4), np.inf), "NaN or infinite"),
        (np.zeros((10, 5)), "5 features per sample but the model expects 4"),
        (np.zeros((0, 4)), "empty"),
        (np.zeros((10, 4, 1)), "2-D"),
        (np.array([["a"] * 4] * 10), "real numbers"),
    ],
)
def test_bad_features(model, bad, match):
    _, y = data()
    with pytest.raises(ValueError, match=match):
        model.fit(bad, y, verbose=0)


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.array([0, 1, 2, 3] + [0] * 6), r"labels must be in \[0, 3\)"),
        (np.array([-1] + [0] * 9), r"labels must be in \[0, 3\)"),
        (np.zeros(9, int), "9 samples but x has 10"),
        (np.full(10, 0.5), "whole numbers"),
        (np.zeros((10, 3)), "integer class labels"),
    ],
)
def test_bad_labels(model, bad, match):
    x, _ = data()
    with pytest.raises(ValueError, match=match):
        model.fit(x, bad, verbose=0)


def test_lists_and_other_dtypes_are_converted(model):
    x, y = data()
    model.fit(x.tolist(), y.tolist(), epochs=1, verbose=0)
    model.fit(x.astype(np.float16), y.astype(np.int8), epochs=1, verbose=0)
    model.fit(x, y.astype(np.float64), epochs=1, verbose=0)  # whole-number floats


def test_single_sample_gets_a_hint(model):
    with pytest.raises(ValueError, match=r"pass a batch of shape \(1, 4\)"):
        model.predict(np.zeros(4))


def test_bad_fit_arguments(model):
    x, y = data()
    with pytest.raises(ValueError, match="batch_size"):
        model.fit(x, y, batch_size=0, verbose=0)
    with pytest.raises(ValueError, match="epochs"):
        model.fit(x, y, epochs=-1, verbose=0)
    with pytest.raises(ValueError, match="validation_split"):
        model.fit(x, y, validation_split=1.5, verbose=0)


def test_uncompiled_model_refuses_to_fit():
    m = fnn.Sequential([fnn.Dense(2, 2)])
    with pytest.raises(RuntimeError, match="compile"):
        m.fit(np.zeros((2, 2)), np.zeros(2, int))


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: fnn.Dense(0, 3), "in_features"),
        (lambda: fnn.Dense(3, 2, activation="gelu"), "activation: unknown 'gelu'"),
        (lambda: fnn.Dense(3, 2, activation="softmax"), "Softmax"),
        (lambda: fnn.Dense(3, 2, init="orthogonal"), "init: unknown"),
        (lambda: fnn.Dropout(1.0), r"p: must be in \[0, 1\)"),
        (
            lambda: fnn.Sequential([fnn.Dense(3, 2), fnn.Dense(3, 2)]),
            "receives 2 features",
        ),
        (lambda: fnn.Sequential([]), "at least one layer"),
        (lambda: fnn.Sequential([fnn.ReLU()]), "first layer must be a Dense"),
        (lambda: fnn.Sequential([fnn.Dense(2, 2)], dtype="int32"), "dtype"),
        (lambda: fnn.Sequential([fnn.Dense(2, 2)], device="tpu"), "device"),
        (lambda: fnn.SGD(lr=-1), "lr"),
        (lambda: fnn.SGD(nesterov=True), "nesterov"),
        (lambda: fnn.Adam(beta1=1.5), "beta1"),
        (
            lambda: fnn.Sequential([fnn.Dense(2, 2)]).compile(loss="hinge"),
            "loss: unknown",
        ),
        (
            lambda: fnn.Sequential([fnn.Dense(2, 2)]).compile(optimizer="lbfgs"),
            "optimizer: unknown",
        ),
        (
            lambda: fnn.Sequential([fnn.Dense(2, 2)]).compile(
                loss="mse", metrics=["accuracy"]
            ),
            "accuracy",
        ),
    ],
)
def test_bad_construction(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_mse_targets_shape_checked():
    m = fnn.Sequential([fnn.Dense(2, 2)]).compile(loss="mse")
    with pytest.raises(ValueError, match=r"expected targets of shape \(3, 2\)"):
        m.fit(np.zeros((3, 2)), np.zeros(3), verbose=0)
