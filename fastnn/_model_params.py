"""Where a ``Sequential``'s parameters live: one flat vector (and one for
the gradients) with per-layer views bound into the layers, the public ways
to read, write and move them (``get_weights``, ``set_weights``,
``parameters``, ``to``), and the tuples the kernels of dense layers take
(one call for a plain dense stack; fit's compiled loop).
``Sequential`` inherits these as a mixin (``FlatParameters``)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import numpy.typing as npt

from fastnn._backend import get_backend
from fastnn.kernels.cpu.activations import ACTIVATION_CODES
from fastnn.layers import Dense, DenseWithActivation

if TYPE_CHECKING:
    from fastnn._workspace import TrainingGuard
    from fastnn.layers import Layer
    from fastnn.model import Sequential


class FlatParameters:
    """The flat-buffer storage of ``Sequential`` (see the module docstring);
    it reads the model's ``layers``, ``_stages``, ``_backend``, ``dtype``,
    ``device``, ``in_features``, ``params``, ``optimizer``, its training
    guard and build lock, and calls its ``build`` and
    ``_reset_workspaces``."""

    # what the methods below read of the model (set by Sequential.__init__)
    layers: list[Layer]
    dtype: np.dtype[Any]
    device: str
    params: Any
    optimizer: Any
    _backend: Any
    _training: TrainingGuard
    _build_lock: threading.Lock

    if TYPE_CHECKING:

        def build(self, seed: int | None = None) -> Any: ...

        def _reset_workspaces(self) -> None: ...

    @property
    def built(self) -> bool:
        """Whether the parameters exist (``build``, a seed, or first use)."""
        return self.params is not None

    @property
    def n_params(self) -> int:
        """The number of parameters (weights and biases) of the network."""
        return sum(
            int(np.prod(s)) for _, shapes, _ in self._param_layout() for s in shapes
        )

    def _ensure_built(self, seed=None):
        if self.params is None:
            with self._build_lock:  # two first predicts must not both build
                if self.params is None:
                    self.build(seed)

    def to(self, device: str) -> Sequential:
        """Move parameters and optimizer state to ``device``.

        Parameters
        ----------
        device : {"cpu", "cuda"}
            The target device.

        Returns
        -------
        Sequential
            The model itself.
        """
        if device == self.device:
            return cast("Sequential", self)
        self._training.refuse_if_training_elsewhere("to")
        backend = get_backend(device)
        weights = self.get_weights() if self.built else None
        state = (
            {
                k: np.array(self._backend.to_host(v))
                for k, v in self.optimizer.state.items()
            }
            if self.optimizer is not None
            else {}
        )
        self._backend, self.device = backend, device
        self._reset_workspaces()
        if self.optimizer is not None:
            self.optimizer.state = {}
        if weights is not None:
            self._set_flat(weights)
            if self.optimizer is not None:  # ``state`` is empty otherwise
                for name, host in state.items():
                    backend.copy_into(self.optimizer.state[name], host)
        return cast("Sequential", self)

    def get_weights(self) -> npt.NDArray[Any]:
        """A host copy of the flat parameter vector.

        Returns
        -------
        numpy.ndarray (P,)
            All parameters in storage order (layer by layer, ``W`` then
            ``b``), of the model's dtype. Builds the model if needed.
        """
        self._ensure_built()
        return np.array(self._backend.to_host(self.params), copy=True)

    def set_weights(self, flat: npt.ArrayLike) -> None:
        """Load a flat parameter vector.

        Parameters
        ----------
        flat : array_like (P,)
            Values as returned by ``get_weights`` (any shape with P elements),
            converted to the model's dtype.

        Raises
        ------
        ValueError
            When it does not hold ``n_params`` values.
        """
        self._training.refuse_if_training_elsewhere("set_weights")
        flat = np.asarray(flat, self.dtype).reshape(-1)
        if flat.size != self.n_params:
            raise ValueError(
                f"weights: expected {self.n_params} values, got {flat.size}"
            )
        self._ensure_built()
        self._backend.copy_into(self.params, flat)

    def parameters(self) -> dict[str, npt.NDArray[Any]]:
        """Host copies of the parameter arrays, by name.

        Returns
        -------
        dict of str to numpy.ndarray
            ``{"layers.<i>.<name>": array}``, e.g. ``layers.0.W`` (I, O)
            and ``layers.0.b`` (O,).
        """
        self._ensure_built()
        out = {}
        for i, layer in enumerate(self.layers):
            for name in layer.param_names:
                out[f"layers.{i}.{name}"] = np.array(
                    self._backend.to_host(getattr(layer, name))
                )
        return out

    def _param_layout(self):
        """[(layer, [shape, ...]), ...] in storage order, with input widths."""
        layout, width = [], self.in_features
        for layer in self.layers:
            layout.append((layer, layer.param_shapes(width), width))
            width = layer.output_features(width)
        return layout

    def _set_flat(self, host_params):
        be = self._backend
        params = be.to_device(np.ascontiguousarray(host_params, self.dtype))
        grads = be.zeros(params.shape[0], self.dtype)
        offset = 0
        for layer, shapes, _ in self._param_layout():
            views, grad_views = [], []
            for shape in shapes:
                n = int(np.prod(shape))
                views.append(params[offset : offset + n].reshape(shape))
                grad_views.append(grads[offset : offset + n].reshape(shape))
                offset += n
            layer.bind(views, grad_views)
        if self.optimizer is not None and not self.optimizer.state:
            self.optimizer.allocate(be, params.shape[0], self.dtype)
        self.grads = grads
        self._stack_params = self._dense_stack_params()
        # last: a concurrent first predict tests ``params`` without the build
        # lock and must then find the layers bound and the stack ready
        self.params = params

    def _dense_stack_params(self):
        """Tuples for the one-call training step of a plain dense stack on the
        CPU (``dense_stack_cross_entropy_step``), or None when the network has
        other layers or lives elsewhere."""
        entries = [dense_stage(stage) for stage in self._stages]
        if None in entries or self._backend.name != "cpu" or self.grads is None:
            return None
        return dense_tuples(entries)


def dense_stage(stage):
    """(Dense layer, activation kernel name, leaky slope) of a stage that is
    a dense layer (with its activation fused or not), else None."""
    if isinstance(stage, Dense):
        return stage, stage.kernel_activation, stage.negative_slope
    if isinstance(stage, DenseWithActivation):
        act = stage.activation
        return stage.dense, act.kernel_name, act.negative_slope
    return None


def dense_tuples(entries):
    """(weights, biases, dweights, dbiases, codes, slopes) of the dense
    layers ``entries`` (``dense_stage``'s triples): what the stack kernels take."""
    layers = [layer for layer, _, _ in entries]
    return (
        tuple(d.W for d in layers),
        tuple(d.b for d in layers),
        tuple(d.dW for d in layers),
        tuple(d.db for d in layers),
        np.array([ACTIVATION_CODES[a] for _, a, _ in entries], np.int64),
        np.array([s for _, _, s in entries], np.float64),
    )
