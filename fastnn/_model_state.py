"""What a copy of a model carries, and the checks that keep its layers and
dtype sound.

Layers hold views into the model's flat buffers and workspaces hold
per-process buffers and locks, none of which a copy may share: a copy
(``copy``, ``deepcopy``, ``pickle``) is rebuilt from its layers (unbound when
copied, see ``Layer.__getstate__``), host copies of the weights and optimizer
state, and the compile settings.
"""

import copy
import weakref
from typing import Any

import numpy as np

DTYPES = ("float32", "float64")

#: The model each optimizer instance serves (its state buffers are sized for
#: that model's parameters: another model's step would run past them). Kept
#: here, not on the optimizer, so copies of an optimizer start unowned.
_OPTIMIZER_OWNERS: weakref.WeakKeyDictionary[Any, weakref.ref[Any]] = (
    weakref.WeakKeyDictionary()
)

#: Attributes ``Sequential.__init__`` sets; a copy rebuilds them, and carries
#: over any others (a subclass's) as they are.
MODEL_ATTRIBUTES = frozenset(
    (
        "layers",
        "dtype",
        "input_scale",
        "device",
        "_backend",
        "_stages",
        "in_features",
        "_widths",
        "out_features",
        "loss",
        "optimizer",
        "metrics",
        "epochs_trained",
        "params",
        "grads",
        "_stack_params",
        "_layout",
        "_train_ws",
        "_graph_program",
        "_graph_report",
        "_infer_pool",
        "_training",
        "_build_lock",
    )
)


def snapshot(model):
    """The state ``Sequential.__getstate__`` returns: host arrays only."""
    model._training.refuse_if_training_elsewhere("copy")
    state = {
        "layers": model.layers,
        "dtype": str(model.dtype),
        "input_scale": model.input_scale,
        "device": model.device,
        "loss": model.loss,
        "metrics": list(model.metrics),
        "optimizer": without_state(model.optimizer),
        "epochs_trained": model.epochs_trained,
        "weights": model.get_weights() if model.built else None,
        "optimizer_state": None,
        "extra": {k: v for k, v in vars(model).items() if k not in MODEL_ATTRIBUTES},
    }
    if model.optimizer is not None and model.built:
        state["optimizer_state"] = {
            name: np.array(model._backend.to_host(buf), copy=True)
            for name, buf in model.optimizer.state.items()
        }
    return state


def restore(model, state):
    """Initialise the (blank) ``model`` from a ``snapshot``."""
    from fastnn.model import Sequential

    # Sequential's own __init__: a subclass's may take other arguments
    Sequential.__init__(
        model,
        state["layers"],
        dtype=state["dtype"],
        device=state["device"],
        input_scale=state.get("input_scale"),
    )
    model.__dict__.update(state.get("extra", {}))
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


def claim_optimizer(optimizer, model):
    """Make ``model`` the owner of ``optimizer``, or refuse: it serves another
    live model."""
    owner = _OPTIMIZER_OWNERS.get(optimizer)
    owner = owner() if owner is not None else None
    if owner is not None and owner is not model:
        raise ValueError(
            f"optimizer: this {type(optimizer).__name__} already belongs to "
            "another model (it holds that model's state); pass a new optimizer, "
            "or copy.deepcopy(optimizer)"
        )
    _OPTIMIZER_OWNERS[optimizer] = weakref.ref(model)


def release_optimizer(optimizer, model):
    owner = _OPTIMIZER_OWNERS.get(optimizer)
    if owner is not None and owner() is model:
        del _OPTIMIZER_OWNERS[optimizer]


def without_state(optimizer):
    """A copy of the optimizer without its state buffers (device arrays that
    the model's state copies on the host replace)."""
    if optimizer is None:
        return None
    clone = copy.copy(optimizer)
    clone.state = {}
    return clone


def input_scale(value):
    """A model's ``input_scale``: None, or a finite number > 0."""
    if value is None:
        return None
    from fastnn._hyperparams import real

    return real("input_scale", value, low=0, low_open=True)


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
