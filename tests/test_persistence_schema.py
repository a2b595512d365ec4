"""A crafted or damaged model file fails to load with one error type,
``ModelFileError``, naming the file and the offending field of its header or
config: never a raw KeyError, TypeError, RecursionError or AttributeError."""

import inspect
import json
import math
import re
import time

import pytest

import fastnn as fnn
from fastnn import _model_schema as schema
from fastnn import layers, optimizers, schedules
from fastnn.persistence import ModelFileError
from tests.model_files import load_error, pack, with_config


def test_model_file_error_is_a_value_error():
    assert issubclass(ModelFileError, ValueError)


def required_arguments(cls):
    return {
        p.name
        for p in inspect.signature(cls).parameters.values()
        if p.default is p.empty
    }


def test_schema_tables_match_the_classes():
    """Each class's schema accepts exactly its get_config keys and requires
    the constructor arguments without a default."""
    samples = [
        (schema.LAYERS, layers.LAYER_CLASSES, {"Dense": (2, 3)}),
        (
            schema.SCHEDULES,
            schedules.SCHEDULES,
            {"StepDecay": (2,), "CosineDecay": (3,)},
        ),
        (
            schema.OPTIMIZERS,
            {c.__name__: c for c in optimizers.OPTIMIZERS.values()},
            {},
        ),
    ]
    for table, classes, arguments in samples:
        assert set(table) == set(classes)
        for name, cls in classes.items():
            config = cls(*arguments.get(name, ())).get_config()
            assert set(table[name].fields) == set(config), name
            assert set(table[name].required) == required_arguments(cls), name
            assert table[name](config, "config") == config


def test_unknown_layer_key_names_file_and_field(saved, tmp_path):
    data, _ = saved

    def add_key(config):
        config["layers"][2]["config"]["foo"] = 1
        return config

    path = tmp_path / "model.safetensors"
    path.write_bytes(with_config(data, add_key))
    with pytest.raises(ModelFileError) as info:
        fnn.load_model(path)
    assert str(info.value) == (
        f"{path}: config.layers[2].config: unknown key 'foo' for Dense"
    )


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda c: c.pop("layers") and c, r"config: missing key 'layers'"),
        (lambda c: {**c, "layers": []}, r"config.layers: .*at least one"),
        (lambda c: {**c, "layers": "Dense"}, r"config.layers: expected a list"),
        (lambda c: {**c, "dtype": "int8"}, r"config.dtype: .*float32"),
        (lambda c: {**c, "loss": "hinge"}, r"config.loss: unknown 'hinge'"),
        (lambda c: {**c, "metrics": "accuracy"}, r"config.metrics: expected a list"),
        (lambda c: {**c, "metrics": [3]}, r"config.metrics\[0\]: expected a str"),
        (lambda c: {**c, "epochs_trained": -1}, r"config.epochs_trained: .*>= 0"),
        (lambda c: {**c, "epochs_trained": 2.0}, r"config.epochs_trained: .*int"),
        (lambda c: {**c, "epochs_trained": True}, r"config.epochs_trained: .*int"),
        (lambda c: {**c, "extra": 1}, r"config: unknown key 'extra'"),
        (lambda c: [c], r"config: expected a dict"),
        (
            lambda c: {**c, "optimizer": {**c["optimizer"], "steps": -1}},
            r"config.optimizer.steps: .*>= 0",
        ),
        (
            lambda c: {**c, "optimizer": {**c["optimizer"], "steps": 2**70}},
            r"config.optimizer.steps",
        ),
        (
            lambda c: {**c, "optimizer": {**c["optimizer"], "class": "LBFGS"}},
            r"config.optimizer.class: unknown 'LBFGS'",
        ),
        (
            lambda c: {
                **c,
                "optimizer": {
                    **c["optimizer"],
                    "config": {**c["optimizer"]["config"], "betas": 0.9},
                },
            },
            r"config.optimizer.config: unknown key 'betas' for SGD",
        ),
        (
            lambda c: {
                **c,
                "optimizer": {
                    **c["optimizer"],
                    "config": {**c["optimizer"]["config"], "lr": -0.1},
                },
            },
            r"config.optimizer.config: lr: must be in",
        ),
        (
            lambda c: {
                **c,
                "optimizer": {
                    **c["optimizer"],
                    "config": {**c["optimizer"]["config"], "lr": math.nan},
                },
            },
            r"config.optimizer.config.lr: must be a finite number",
        ),
        (
            lambda c: {
                **c,
                "optimizer": {
                    **c["optimizer"],
                    "config": {**c["optimizer"]["config"], "nesterov": "yes"},
                },
            },
            r"config.optimizer.config.nesterov: expected a bool",
        ),
        (
            lambda c: {
                **c,
                "optimizer": {
                    **c["optimizer"],
                    "config": {
                        **c["optimizer"]["config"],
                        "schedule": {"class": "CosineDecay", "config": {"T": 3}},
                    },
                },
            },
            r"config.optimizer.config.schedule.config: unknown key 'T' for "
            r"CosineDecay",
        ),
        (
            lambda c: {**c, "layers": [{"class": "Dense", "config": {}}]},
            r"config.layers\[0\].config: missing key 'in_features'",
        ),
        (
            lambda c: {**c, "layers": [{"class": "Conv2d", "config": {}}]},
            r"config.layers\[0\].class: unknown 'Conv2d'",
        ),
        (
            lambda c: {**c, "layers": c["layers"][1:]},
            r"config.layers: .*first layer must be a Dense",
        ),
        (
            lambda c: {
                **c,
                "layers": [
                    {
                        "class": "Dense",
                        "config": {**c["layers"][0]["config"], "activation": "gelu"},
                    },
                    *c["layers"][1:],
                ],
            },
            r"config.layers\[0\].config: activation: unknown 'gelu'",
        ),
        (
            lambda c: {**c, "layers": [{"class": "Dropout", "config": {"p": 2}}]},
            r"config.layers\[0\].config: p: must be in",
        ),
    ],
)
def test_bad_config_fields_are_named(saved, change, match):
    data, _ = saved
    message = load_error(with_config(data, change))
    assert message.startswith("<bytes>: ")
    assert re.search(match, message), message


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000 + "]" * 100_000,
        '{"layers": ' + "[" * 100_000 + "]" * 100_000 + "}",
        "not json",
        '{"layers": 1e999999}',
        '{"layers": ' + "9" * 5000 + "}",
        "null",
        '"a string"',
    ],
)
def test_unreadable_config_json(saved, text):
    data, _ = saved
    assert load_error(with_config(data, lambda c: text)).startswith("<bytes>: config")


def test_oversized_config_is_refused(saved):
    data, _ = saved
    text = json.dumps({"layers": [], "padding": "x" * (8 << 20)})
    with pytest.raises(ModelFileError, match="config: too large"):
        fnn.load_model(with_config(data, lambda c: text))
    text = json.dumps({"layers": [], "padding": "x" * (20 << 20)})
    with pytest.raises(ModelFileError, match="header of .* bytes is too large"):
        fnn.load_model(with_config(data, lambda c: text))


@pytest.mark.parametrize(
    "header, match",
    [
        ([], "not a fastnn model file"),
        ({"__metadata__": "fastnn"}, "not a fastnn model file"),
        ({"__metadata__": {"format": "fastnn"}}, "missing key 'format_version'"),
        (
            {"__metadata__": {"format": "fastnn", "format_version": "x"}},
            "format_version",
        ),
        (
            {"__metadata__": {"format": "fastnn", "format_version": 1}},
            "format_version",
        ),
        ({"__metadata__": {"format": "fastnn", "format_version": "1"}}, "config"),
        (
            {
                "__metadata__": {
                    "format": "fastnn",
                    "format_version": "1",
                    "config": {"layers": []},
                }
            },
            "config",
        ),
        ({"__metadata__": {"format": "fastnn", "format_version": "9"}}, "newer"),
    ],
)
def test_bad_metadata(header, match):
    with pytest.raises(ModelFileError, match=match):
        fnn.load_model(pack(header))


def test_deeply_nested_header(saved):
    with pytest.raises(ModelFileError, match="not a fastnn model file"):
        fnn.load_model(pack(None, header_text="[" * 200_000 + "]" * 200_000))
    with pytest.raises(ModelFileError, match="not a fastnn model file"):
        fnn.load_model(
            pack(None, header_text='{"a": ' + "[" * 200_000 + "]" * 200_000 + "}")
        )


@pytest.mark.parametrize(
    "source, depth",
    [
        ('{"a": [1, "]]]", {"b": "\\"[["}]}', 3),
        ("[[[]]]", 3),
        ('"unterminated [[[', 0),
        ('"\\\\" [[', 2),
        ("", 0),
    ],
)
def test_nesting_skips_brackets_in_strings(source, depth):
    assert schema.nesting(source) == depth


def test_nesting_is_linear_on_adversarial_text():
    """A scan that retried every quote of an unterminated string would take
    minutes here."""
    start = time.perf_counter()
    for source in ('"' + '\\"' * 500_000, '"\\' * 500_000, 'x"' * 500_000):
        assert schema.nesting(source) == 0
    assert time.perf_counter() - start < 10
