"""Loading checks every tensor of a model file (names, dtypes, shapes,
finite values) and the hyperparameters, and refuses with ``ModelFileError``
what would load wrong or break training later."""

import json
import math

import numpy as np
import pytest
from safetensors.numpy import save as st_save

import fastnn as fnn
from fastnn.persistence import ModelFileError
from tests.model_files import (
    load_error,
    pack,
    split,
    with_config,
    with_tensors,
)


def test_float64_tensor_in_float32_model_is_refused(saved):
    data, _ = saved

    def widen(tensors):
        tensors["layers.0.W"] = tensors["layers.0.W"].astype(np.float64)
        return tensors

    message = load_error(with_tensors(data, widen))
    assert "layers.0.W" in message and "float64" in message and "float32" in message


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.float16, np.uint8])
def test_non_float_tensors_are_refused(saved, dtype):
    data, _ = saved

    def cast(tensors):
        tensors["layers.2.b"] = tensors["layers.2.b"].astype(dtype)
        return tensors

    assert "layers.2.b" in load_error(with_tensors(data, cast))


def test_broadcastable_velocity_is_refused(saved):
    data, _ = saved

    def shrink(tensors):
        tensors["optimizer.velocity"] = np.ones(1, np.float32)
        return tensors

    message = load_error(with_tensors(data, shrink))
    assert "optimizer.velocity" in message and "shape" in message


@pytest.mark.parametrize("name", ["optimizer.velocity", "layers.0.b"])
def test_missing_tensors_are_refused(saved, name):
    data, _ = saved

    def drop(tensors):
        del tensors[name]
        return tensors

    assert f"{name} is missing" in load_error(with_tensors(data, drop))


def test_unexpected_tensor_is_refused(saved):
    data, _ = saved

    def add(tensors):
        tensors["optimizer.m"] = np.zeros(3, np.float32)
        return tensors

    assert "unexpected tensor optimizer.m" in load_error(with_tensors(data, add))


@pytest.mark.parametrize(
    "name, value",
    [
        ("layers.0.W", math.nan),
        ("layers.2.b", math.inf),
        ("optimizer.velocity", -math.inf),
    ],
)
def test_non_finite_tensors_are_refused(saved, name, value):
    data, _ = saved

    def poison(tensors):
        tensors[name].reshape(-1)[3 % tensors[name].size] = value
        return tensors

    message = load_error(with_tensors(data, poison))
    assert name in message and "NaN or infinite" in message


def test_negative_adam_second_moment_is_refused(saved_adam):
    data, _ = saved_adam

    def negate(tensors):
        tensors["optimizer.v"][0] = -1.0
        return tensors

    message = load_error(with_tensors(data, negate))
    assert "optimizer.v" in message and ">= 0" in message


@pytest.mark.parametrize(
    "field, value, match",
    [
        ("steps", -1, "steps"),
        ("beta1", 1.0, "beta1"),
        ("beta2", 1.5, "beta2"),
        ("eps", -1e-8, "eps"),
        ("lr", math.inf, "lr"),
        ("weight_decay", -1, "weight_decay"),
    ],
)
def test_bad_adam_hyperparameters_are_refused(saved_adam, field, value, match):
    data, _ = saved_adam

    def change(config):
        if field == "steps":
            config["optimizer"]["steps"] = value
        else:
            config["optimizer"]["config"][field] = value
        return config

    with pytest.raises(ModelFileError, match=match):
        fnn.load_model(with_config(data, change))


def test_tensor_entry_offsets_are_checked(saved):
    data, _ = saved
    header, body = split(data)
    header["layers.0.b"]["data_offsets"] = [0, len(body) + 4]
    with pytest.raises(ModelFileError):
        fnn.load_model(pack(header, body))


def test_current_files_still_load(saved, saved_adam):
    """Files written by this version (and the previous one: same layout)."""
    for data, x in (saved, saved_adam):
        model = fnn.load_model(data)
        assert model.predict(x).shape == (len(x), 3)


def test_file_in_the_version_1_layout_loads():
    """A file laid out as fastnn has always written them, built by hand."""
    rng = np.random.default_rng(0)
    weights = {
        "layers.0.W": rng.standard_normal((3, 4)),
        "layers.0.b": rng.standard_normal(4),
        "layers.2.W": rng.standard_normal((4, 2)),
        "layers.2.b": rng.standard_normal(2),
    }
    velocity = rng.standard_normal(26)
    config = {
        "layers": [
            {
                "class": "Dense",
                "config": {
                    "in_features": 3,
                    "out_features": 4,
                    "activation": None,
                    "init": "xavier",
                    "negative_slope": 0.01,
                },
            },
            {"class": "ReLU", "config": {}},
            {
                "class": "Dense",
                "config": {
                    "in_features": 4,
                    "out_features": 2,
                    "activation": None,
                    "init": "xavier",
                    "negative_slope": 0.01,
                },
            },
        ],
        "dtype": "float64",
        "epochs_trained": 3,
        "loss": "mse",
        "metrics": [],
        "optimizer": {
            "class": "SGD",
            "config": {
                "momentum": 0.9,
                "dampening": 0.0,
                "nesterov": False,
                "weight_decay": 0.0,
                "lr": 0.1,
                "schedule": {
                    "class": "StepDecay",
                    "config": {"step_size": 2, "gamma": 0.5},
                },
            },
            "steps": 12,
        },
    }
    data = st_save(
        {**weights, "optimizer.velocity": velocity},
        metadata={
            "format": "fastnn",
            "format_version": "1",
            "config": json.dumps(config),
        },
    )
    model = fnn.load_model(data)
    np.testing.assert_array_equal(
        model.get_weights(), np.concatenate([w.reshape(-1) for w in weights.values()])
    )
    np.testing.assert_array_equal(model.optimizer.state["velocity"], velocity)
    assert (model.epochs_trained, model.optimizer.steps) == (3, 12)
    assert model.optimizer.schedule.get_config() == {"step_size": 2, "gamma": 0.5}
    assert model.loss.name == "mse" and model.dtype == np.float64
