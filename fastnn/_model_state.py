"""What a copy of a model carries, and the checks that keep its layers and
dtype sound.

Layers hold views into the model's flat buffers and workspaces hold
per-process buffers and locks, none of which a copy may share: a copy
(``copy``, ``deepcopy``, ``pickle``) is rebuilt from its layers (unbound when
copied, see ``Layer.__getstate__``), host copies of the weights and optimizer
state, and the compile settings.
"""

import copy

import numpy as np

DTYPES = ("float32", "float64")


def snapshot(model):
    """The state ``Sequential.__getstate__`` returns: host arrays only."""
    state = {
        "layers": model.layers,
        "dtype": str(model.dtype),
        "device": model.device,
        "loss": model.loss,
        "metrics": list(model.metrics),
        "optimizer": without_state(model.optimizer),
        "epochs_trained": model.epochs_trained,
        "weights": model.get_weights() if model.built else None,
        "optimizer_state": None,
    }
    if model.optimizer is not None and model.built:
        state["optimizer_state"] = {
            name: np.array(model._backend.to_host(buf), copy=True)
            for name, buf in model.optimizer.state.items()
        }
    return state


def restore(model, state):
    """Initialise the (blank) ``model`` from a ``snapshot``."""
    model.__init__(state["layers"], dtype=state["dtype"], device=state["device"])
    model.epochs_trained = state["epochs_trained"]
    if state["optimizer"] is not None:
        model.compile(state["optimizer"], state["loss"], state["metrics"])
    elif state["loss"] is not None:
        model.loss, model.metrics = state["loss"], state["metrics"]
        model._reset_workspaces()
    if state["weights"] is not None:
        model._set_flat(state["weights"])
        for name, host in (state["optimizer_state"] or {}).items():
            model._backend.copy_into(model.optimizer.state[name], host)


def without_state(optimizer):
    """A copy of the optimizer without its state buffers (device arrays that
    the model's state copies on the host replace)."""
    if optimizer is None:
        return None
    clone = copy.copy(optimizer)
    clone.state = {}
    return clone


def model_dtype(dtype):
    """np.dtype of a model: float32 or float64, or a clear error."""
    try:
        resolved = np.dtype(dtype)
    except (TypeError, ValueError):
        resolved = None
    if resolved is None or str(resolved) not in DTYPES:
        raise ValueError(f"dtype: expected one of {DTYPES}, got {dtype!r}")
    return resolved


def check_layers_unshared(layers):
    """A layer with parameters or per-step state belongs to one place in one
    model: used twice, its views would point into one model's buffers while
    the other trains them (silently wrong weights and saved files)."""
    seen = {}
    for i, layer in enumerate(layers):
        if not (layer.param_names or layer.needs_noise):
            continue  # stateless activations may be reused freely
        if id(layer) in seen:
            raise ValueError(
                f"layers[{i}]: this {type(layer).__name__} is already layers"
                f"[{seen[id(layer)]}]; a layer with weights or state can appear "
                "once (create another layer; weight tying is not supported)"
            )
        seen[id(layer)] = i
        owner = layer._owner() if layer._owner is not None else None
        if owner is not None:
            raise ValueError(
                f"layers[{i}]: this {type(layer).__name__} already belongs to "
                "another Sequential; create a new layer, or copy.deepcopy(layer) "
                "for an unbound copy with the same settings"
            )
