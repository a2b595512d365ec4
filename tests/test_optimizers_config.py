"""Optimizer and schedule hyperparameters: finite real numbers and real ints
(not bools, strings or 2.5), refused with an error naming the argument."""

import math

import numpy as np
import pytest

import fastnn as fnn

nan, inf = math.nan, math.inf


@pytest.mark.parametrize(
    "make, name",
    [
        (lambda: fnn.CosineDecay(4, eta_min=nan), "eta_min"),
        (lambda: fnn.CosineDecay(4, eta_min=inf), "eta_min"),
        (lambda: fnn.CosineDecay(4, eta_min=-0.1), "eta_min"),
        (lambda: fnn.CosineDecay(4, eta_min="0.1"), "eta_min"),
        (lambda: fnn.CosineDecay(4, eta_min=True), "eta_min"),
        (lambda: fnn.CosineDecay(4, eta_min=10**400), "eta_min"),
        (lambda: fnn.CosineDecay(2.5), "total_epochs"),
        (lambda: fnn.CosineDecay(3.0), "total_epochs"),
        (lambda: fnn.CosineDecay(True), "total_epochs"),
        (lambda: fnn.CosineDecay("3"), "total_epochs"),
        (lambda: fnn.CosineDecay(None), "total_epochs"),
        (lambda: fnn.CosineDecay(0), "total_epochs"),
        (lambda: fnn.StepDecay(2, gamma=inf), "gamma"),
        (lambda: fnn.StepDecay(2, gamma=nan), "gamma"),
        (lambda: fnn.StepDecay(2, gamma=0), "gamma"),
        (lambda: fnn.StepDecay(2, gamma="0.5"), "gamma"),
        (lambda: fnn.StepDecay(2, gamma=False), "gamma"),
        (lambda: fnn.StepDecay(2.5), "step_size"),
        (lambda: fnn.StepDecay(False), "step_size"),
        (lambda: fnn.StepDecay("2"), "step_size"),
        (lambda: fnn.StepDecay(0), "step_size"),
        (lambda: fnn.SGD(lr=nan), "lr"),
        (lambda: fnn.SGD(lr=inf), "lr"),
        (lambda: fnn.SGD(lr="0.1"), "lr"),
        (lambda: fnn.SGD(lr=True), "lr"),
        (lambda: fnn.SGD(lr=10**400), "lr"),
        (lambda: fnn.SGD(momentum=nan), "momentum"),
        (lambda: fnn.SGD(momentum=0.9, nesterov="no"), "nesterov"),
        (lambda: fnn.SGD(momentum=0.9, nesterov=1), "nesterov"),
        (lambda: fnn.Adam(eps=nan), "eps"),
        (lambda: fnn.Adam(beta2=1.0), "beta2"),
        (lambda: fnn.AdamW(weight_decay=-inf), "weight_decay"),
    ],
)
def test_bad_hyperparameters_name_the_argument(make, name):
    with pytest.raises((TypeError, ValueError), match=f"^{name}: "):
        make()


def test_numpy_scalars_are_accepted():
    cosine = fnn.CosineDecay(np.int64(4), eta_min=np.float32(0.5))
    assert cosine.get_config() == {"total_epochs": 4, "eta_min": 0.5}
    assert type(cosine.total_epochs) is int and type(cosine.eta_min) is float
    step = fnn.StepDecay(np.int32(2), gamma=np.float64(0.5))
    assert step.get_config() == {"step_size": 2, "gamma": 0.5}
    sgd = fnn.SGD(lr=np.float32(0.5), momentum=0.9, nesterov=np.True_)
    assert sgd.nesterov is True and type(sgd.lr) is float


def test_schedules_still_compute_the_same_values():
    assert fnn.StepDecay(2, gamma=0.5)(1.0, 5) == 0.25
    cosine = fnn.CosineDecay(4, eta_min=0.1)
    assert cosine(1.0, 0) == 1.0 and cosine(1.0, 4) == pytest.approx(0.1)
    assert cosine(1.0, 9) == pytest.approx(0.1)
