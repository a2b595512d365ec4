"""Saving and loading models as one .safetensors file.

The file holds each parameter as a named tensor (``layers.<i>.W``), the
optimizer's state buffers (``optimizer.<name>``), and as JSON metadata the
architecture, dtype, loss, metrics, optimizer hyperparameters and step count,
and the number of epochs trained, so a loaded model predicts identically and
resumes training exactly. safetensors holds no code: loading an untrusted file
runs nothing.

Writes are atomic: the file is written under a temporary name in the same
directory, flushed to disk, then renamed over the target, so a crash mid-save
leaves the previous file intact.
"""

import json
import os
import tempfile

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

from fastnn import layers as layers_module
from fastnn import losses as losses_module
from fastnn import optimizers as optimizers_module

FORMAT = "fastnn"
FORMAT_VERSION = 1


def save_model(model, path):
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
    _atomic_write(os.fspath(path), st_save(tensors, metadata=metadata))


def _atomic_write(path, data):
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".fastnn-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _read_metadata(data, path):
    """The JSON metadata of a safetensors byte string, or a clear ValueError."""
    problem = f"{path} is not a fastnn model file"
    if len(data) < 8:
        raise ValueError(f"{problem} (too short: {len(data)} bytes)")
    header_len = int.from_bytes(data[:8], "little")
    if header_len > len(data) - 8:
        raise ValueError(f"{problem} (truncated or not safetensors)")
    try:
        header = json.loads(data[8 : 8 + header_len])
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValueError(f"{problem} (unreadable header)") from None
    meta = header.get("__metadata__") or {} if isinstance(header, dict) else {}
    if meta.get("format") != FORMAT:
        raise ValueError(f"{problem} (safetensors without fastnn metadata)")
    if int(meta.get("format_version", 0)) > FORMAT_VERSION:
        raise ValueError(
            f"{path} was written by a newer fastnn (format "
            f"{meta['format_version']}); upgrade fastnn to load it"
        )
    return json.loads(meta["config"])


def load_model(path, device="cpu"):
    """Load a model saved with ``model.save``, onto ``device`` ("cpu" or "cuda")."""
    from fastnn.model import Sequential

    with open(path, "rb") as f:
        data = f.read()
    config = _read_metadata(data, path)
    try:
        tensors = st_load(data)
    except (SafetensorError, ValueError) as exc:
        raise ValueError(f"{path} is corrupt or truncated ({exc})") from None
    layers = [layers_module.from_config(entry) for entry in config["layers"]]
    model = Sequential(layers, dtype=config["dtype"], device=device)
    flat = []
    for i, layer in enumerate(layers):
        for name, shape in zip(layer.param_names, layer.param_shapes(None)):
            key = f"layers.{i}.{name}"
            if key not in tensors or tensors[key].shape != tuple(shape):
                raise ValueError(
                    f"{path}: tensor {key} is missing or has the wrong shape"
                )
            flat.append(tensors[key].reshape(-1))
    host = np.concatenate(flat) if flat else np.empty(0, model.dtype)
    model.epochs_trained = int(config.get("epochs_trained", 0))
    if "optimizer" in config:
        entry = config["optimizer"]
        optimizer = optimizers_module.from_config(entry["class"], entry["config"])
        model.compile(
            optimizer=optimizer,
            loss=losses_module.get(config["loss"]),
            metrics=config.get("metrics"),
        )
        model._set_flat(host)
        optimizer.steps = int(entry["steps"])
        for name in optimizer.state_names:
            key = f"optimizer.{name}"
            if key in tensors:
                model._backend.copy_into(optimizer.state[name], tensors[key])
    else:
        model._set_flat(host)
    return model
