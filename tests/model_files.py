"""Helpers for tests that craft model files: take a saved model's bytes
apart, change its header, config or tensors, and put them back together."""

import io
import json

import numpy as np
import pytest
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

import fastnn as fnn
from fastnn.persistence import ModelFileError
from tests.test_persistence import trained


def saved_bytes(optimizer=None):
    """(file bytes, input batch) of a trained model (momentum SGD by default)."""
    model, x, _ = trained(optimizer=optimizer)
    f = io.BytesIO()
    model.save(f)
    return f.getvalue(), x


def split(data):
    """(header dict, raw tensor bytes) of a safetensors byte string."""
    n = int.from_bytes(data[:8], "little")
    return json.loads(data[8 : 8 + n]), data[8 + n :]


def pack(header, body=b"", header_text=None):
    """A safetensors byte string from a header (dict, or raw JSON text)."""
    text = header_text if header_text is not None else json.dumps(header)
    raw = text.encode()
    raw += b" " * (-len(raw) % 8)
    return len(raw).to_bytes(8, "little") + raw + body


def with_config(data, change):
    """``data`` with its config JSON replaced by ``change(config)``'s result
    (a dict, or a str taken as the raw JSON text)."""
    header, body = split(data)
    config = change(json.loads(header["__metadata__"]["config"]))
    header["__metadata__"]["config"] = (
        config if isinstance(config, str) else json.dumps(config)
    )
    return pack(header, body)


def with_tensors(data, change):
    """``data`` with its tensors replaced by ``change(dict of arrays)``'s."""
    header, _ = split(data)
    tensors = {k: np.array(v) for k, v in st_load(data).items()}
    return st_save(change(tensors), metadata=header["__metadata__"])


def load_error(data):
    with pytest.raises(ModelFileError) as info:
        fnn.load_model(data)
    return str(info.value)
