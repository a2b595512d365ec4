"""Saving and loading models as one .safetensors file.

The file holds each parameter as a named tensor (``layers.<i>.W``), the
optimizer's state buffers (``optimizer.<name>``), and as JSON metadata the
architecture, dtype, loss, metrics, optimizer hyperparameters and step count,
and the number of epochs trained, so a loaded model predicts identically and
resumes training exactly. safetensors holds no code: loading an untrusted file
runs nothing.

``save_model(model, path)`` (what ``model.save(path)`` calls) and
``load_model(path, device="cpu")`` take a path (str or os.PathLike) or a
binary file object (written or read from its current position, left open);
``load_model`` also takes the file's contents as bytes, bytearray or
memoryview.

Loading checks everything the file holds before using it (see
``fastnn._model_schema``): the config's fields and their types, the
hyperparameters, and every tensor's name, dtype, shape and finiteness. A bad
file raises ``ModelFileError`` (a ValueError) naming the file ("<bytes>" or
"<file object>" for those) and the field; OS errors stay OSError.

Saving to a path is atomic: the file is written under a temporary name
(``.fastnn-<pid>-<random>.tmp``) in the same directory, flushed to disk, then
renamed over the target, so a crash mid-save leaves the previous file intact.
A new file gets the usual mode (0666 less the umask), a replaced file keeps
its mode. Only a regular file is replaced: a directory, device, FIFO or socket
at the path is refused, and so is a symbolic link (neither its target nor the
link is touched; save to the target's path, or remove the link). A writer
killed mid-save leaves its temporary file behind; the next save into that
directory removes it once that writer is gone (POSIX). A SIGTERM during a
save in the main thread, where SIGTERM has its default action, removes the
temporary file before the process ends.
"""

from __future__ import annotations

import io
import json
import os
from typing import IO, TYPE_CHECKING, Union

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

from fastnn import _atomic_file
from fastnn import _model_schema as schema
from fastnn import layers as layers_module
from fastnn import optimizers as optimizers_module
from fastnn import schedules as schedules_module
from fastnn.kernels._host_scan import count_nonfinite, value_range

if TYPE_CHECKING:
    from fastnn.model import Sequential

#: Where a model may be saved: a path or a binary file object.
Target = Union[str, os.PathLike[str], IO[bytes]]
#: Where a model may be loaded from: those, or the file's contents.
Source = Union[str, os.PathLike[str], IO[bytes], bytes, bytearray, memoryview]

FORMAT = schema.FORMAT
FORMAT_VERSION = schema.FORMAT_VERSION
BYTES_LIKE = (bytes, bytearray, memoryview)


class ModelFileError(ValueError):
    """A file (or bytes) that is not a valid fastnn model: the message names
    the file and the offending field."""


# ------------------------------------------------------------------- save
def save_model(model: Sequential, path: Target) -> None:
    """Write ``model`` to ``path``: a str or os.PathLike path (atomically) or
    a binary file object with ``write``.

    Parameters
    ----------
    model : Sequential
        The model (built first if it is not).
    path : str, os.PathLike or binary file object
        A path, replaced atomically, or a file object opened for writing in
        binary mode (written from its current position, left open).

    Raises
    ------
    TypeError
        For bytes, a text-mode file object or another type.
    ValueError
        When the path is a directory, link or other non-regular file.
    """
    if isinstance(path, BYTES_LIKE):
        raise TypeError(
            "path: bytes are file contents to load_model, not a path; pass the "
            "path as a str or os.PathLike"
        )
    if isinstance(path, (str, os.PathLike)):
        path = os.fsdecode(os.fspath(path))
        mode = _atomic_file.existing_mode(path)  # refuses a FIFO before the work
        _atomic_file.write(path, _serialize(model), mode)
    elif callable(getattr(path, "write", None)):
        if isinstance(path, io.TextIOBase):
            raise TypeError(
                "path: the file object is in text mode; open it in binary mode ('wb')"
            )
        _write_all(path, _serialize(model))
    else:
        raise TypeError(
            "path: expected a str or os.PathLike path or a binary file object, "
            f"got {type(path).__name__}"
        )


def _serialize(model):
    model._ensure_built()
    be = model._backend
    tensors = model.parameters()
    metadata = {"format": FORMAT, "format_version": str(FORMAT_VERSION)}
    config = model.get_config()
    config["epochs_trained"] = model.epochs_trained
    if model.loss is not None:
        config["loss"] = model.loss.name
        config["metrics"] = model.metrics
    if model.optimizer is not None:
        opt = model.optimizer
        config["optimizer"] = {
            "class": type(opt).__name__,
            "config": opt.get_config(),
            "steps": opt.steps,
        }
        for name, buffer in opt.state.items():
            tensors[f"optimizer.{name}"] = np.array(be.to_host(buffer))
    metadata["config"] = json.dumps(config)
    return st_save(tensors, metadata=metadata)


def _write_all(f, data):
    view = memoryview(data)
    while view:
        written = f.write(view)
        # None: a writer that reports nothing (raw non-blocking files aside)
        view = view[len(view) if written is None else written :]
    flush = getattr(f, "flush", None)
    if callable(flush):
        flush()


# ------------------------------------------------------------------- load
def load_model(path: Source, device: str = "cpu") -> Sequential:
    """Load a model saved with ``model.save``, onto ``device`` ("cpu" or
    "cuda"), from a path, a binary file object, or the file's bytes. A file
    that is not a valid model raises ``ModelFileError``.

    Parameters
    ----------
    path : str, os.PathLike, binary file object, bytes, bytearray or memoryview
        The file: a path, a file object opened for reading in binary mode
        (read from its current position, left open), or its contents.
    device : {"cpu", "cuda"}, default "cpu"
        Where the loaded model lives.

    Returns
    -------
    Sequential
        The model with its weights, and, when it was compiled, its loss,
        metrics, optimizer (state and step count) and ``epochs_trained``.

    Raises
    ------
    ModelFileError
        When the contents are not a valid fastnn model (the message names the
        file and the field).
    TypeError
        For a text-mode file object or another type.
    OSError
        When the file cannot be read.
    """
    from fastnn._backend import get_backend

    get_backend(device)  # a bad device is the caller's error, not the file's
    data, name = _read(path)
    try:
        return _load(data, device)
    except schema.Invalid as exc:
        raise ModelFileError(f"{name}: {exc}") from None


def _read(path):
    """(contents, name for messages) of a path, file object or bytes."""
    if isinstance(path, BYTES_LIKE):
        return bytes(path), "<bytes>"
    if isinstance(path, (str, os.PathLike)):
        with open(path, "rb") as f:
            return f.read(), os.fsdecode(os.fspath(path))
    if callable(getattr(path, "read", None)):
        data = None if isinstance(path, io.TextIOBase) else path.read()
        if not isinstance(data, BYTES_LIKE):
            raise TypeError(
                "path: the file object is not in binary mode; open it with 'rb'"
            )
        return bytes(data), "<file object>"
    raise TypeError(
        "path: expected a str or os.PathLike path, a binary file object or "
        f"bytes, got {type(path).__name__}"
    )


def _built(where, make, *args, **kwargs):
    """``make(...)``, its ValueError or TypeError on a value from the file
    reported at ``where``."""
    try:
        return make(*args, **kwargs)
    except (ValueError, TypeError) as exc:
        raise schema.Invalid(where, str(exc)) from None


def _load(data, device):
    from fastnn.model import Sequential

    meta, entries = schema.read_header(data)
    config = schema.parse_config(meta["config"])
    layers = [
        _built(f"config.layers[{i}].config", layers_module.from_config, entry)
        for i, entry in enumerate(config["layers"])
    ]
    model = _built(
        "config.layers",
        Sequential,
        layers,
        dtype=config["dtype"],
        device=device,
        input_scale=config.get("input_scale"),
    )
    expected = {
        f"layers.{i}.{name}": tuple(shape)
        for i, (layer, shapes, _) in enumerate(model._param_layout())
        for name, shape in zip(layer.param_names, shapes)
    }
    optimizer = None
    if "optimizer" in config:
        entry = config["optimizer"]
        where = "config.optimizer.config"
        if "schedule" in entry["config"]:  # built here to name its field
            schedule = entry["config"]["schedule"]
            _built(f"{where}.schedule.config", schedules_module.from_config, schedule)
        optimizer = _built(
            where, optimizers_module.from_config, entry["class"], entry["config"]
        )
        optimizer.steps = entry["steps"]
        for name in optimizer.state_names:
            expected[f"optimizer.{name}"] = (model.n_params,)
    schema.check_tensors(entries, expected, config["dtype"])
    try:
        tensors = st_load(data)
    except (SafetensorError, ValueError, TypeError, OverflowError) as exc:
        raise schema.Invalid(
            None, f"the file is corrupt or truncated ({exc})"
        ) from None
    for name in expected:
        _check_values(name, tensors[name])
    host = np.concatenate(
        [tensors[name].reshape(-1) for name in expected if name.startswith("layers.")]
    )
    model.epochs_trained = config.get("epochs_trained", 0)
    if optimizer is not None:
        _built(
            "config",
            model.compile,
            optimizer=optimizer,
            loss=config["loss"],
            metrics=config.get("metrics"),
        )
    model._set_flat(host)
    if optimizer is not None:
        for name in optimizer.state_names:
            model._backend.copy_into(
                optimizer.state[name], tensors[f"optimizer.{name}"]
            )
    return model


def _check_values(name, array):
    """Weights and optimizer state must be finite, Adam's second moments >= 0
    (its update takes their square root)."""
    if array.size == 0:
        return
    array = np.ascontiguousarray(array)
    bad = count_nonfinite(array)
    if bad:
        raise schema.Invalid(f"tensor {name}", f"holds {bad} NaN or infinite values")
    if name == "optimizer.v" and value_range(array)[0] < 0:
        raise schema.Invalid(f"tensor {name}", "second moments must be >= 0")
