"""Where a ``Sequential``'s parameters live: one flat vector (and one for
the gradients) with per-layer views bound into the layers, and the tuples
the one-call kernels of a plain dense stack take. ``Sequential`` inherits
these as a mixin (``FlatParameters``)."""

from __future__ import annotations

import numpy as np

from fastnn.kernels.cpu.activations import ACTIVATION_CODES
from fastnn.layers import Dense, DenseWithActivation


class FlatParameters:
    """The flat-buffer storage of ``Sequential`` (see the module docstring);
    it reads the model's ``layers``, ``_stages``, ``_backend``, ``dtype``,
    ``in_features`` and ``optimizer``."""

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
