"""Fuzzing: mutated headers, configs and bytes of a saved model either load
(into a model that predicts) or raise ``ModelFileError``, nothing else."""

import copy
import json
import math

import numpy as np
import pytest

import fastnn as fnn
from fastnn.persistence import ModelFileError
from tests.model_files import pack, split

WRONG_VALUES = [
    None,
    [],
    {},
    [1, 2],
    {"a": 1},
    "",
    "x",
    "Dense",
    True,
    False,
    0,
    -1,
    2.5,
    10**30,
    math.nan,
    math.inf,
]
NESTED = "[" * 50_000 + "]" * 50_000


def paths(value, prefix=()):
    """Every path of keys/indexes inside nested dicts and lists."""
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from paths(item, (*prefix, i))


def replaced(root, path, value):
    root = copy.deepcopy(root)
    if not path:
        return value
    parent = root
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return root


def deleted(root, path):
    root = copy.deepcopy(root)
    parent = root
    for key in path[:-1]:
        parent = parent[key]
    del parent[path[-1]]
    return root


def mutations(document):
    """Variants of a JSON document: each node deleted, replaced by each wrong
    value, or replaced by a deeply nested list (as raw JSON text)."""
    for path in paths(document):
        if path:
            yield deleted(document, path)
        for value in WRONG_VALUES:
            yield replaced(document, path, value)
        marker = "__NESTED__"
        yield json.dumps(replaced(document, path, marker)).replace(
            json.dumps(marker), NESTED
        )


def assert_loads_or_model_file_error(data, x):
    try:
        model = fnn.load_model(data)
    except ModelFileError:
        return
    assert model.predict(x).shape[0] == len(x)


@pytest.mark.parametrize("which", ["saved", "saved_adam"])
def test_fuzzed_config_loads_or_raises_model_file_error(request, which):
    data, x = request.getfixturevalue(which)
    header, body = split(data)
    config = json.loads(header["__metadata__"]["config"])
    count = 0
    for variant in mutations(config):
        text = variant if isinstance(variant, str) else json.dumps(variant)
        header["__metadata__"]["config"] = text
        assert_loads_or_model_file_error(pack(header, body), x)
        count += 1
    assert count > 300


def test_fuzzed_header_loads_or_raises_model_file_error(saved):
    data, x = saved
    header, body = split(data)
    # the config string itself is fuzzed above; here everything around it
    for variant in mutations(header):
        if isinstance(variant, str):
            blob = pack(None, body, header_text=variant)
        else:
            blob = pack(variant, body)
        assert_loads_or_model_file_error(blob, x)


def test_fuzzed_bytes_load_or_raise_model_file_error(saved):
    data, x = saved
    rng = np.random.default_rng(0)
    for _ in range(300):
        blob = bytearray(data)
        for i in rng.integers(0, len(blob), rng.integers(1, 4)):
            blob[i] = rng.integers(0, 256)
        assert_loads_or_model_file_error(bytes(blob), x)
