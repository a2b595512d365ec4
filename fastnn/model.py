"""Sequential: a stack of layers with fit/evaluate/predict over flat buffers.

Storage: all parameters live in one contiguous vector (and their gradients in
another), with per-layer views, so an optimizer step is one kernel call.
Activation and gradient buffers live in workspaces (``fastnn._workspace``)
that are reused, so a training step allocates nothing: it is a handful of
kernel calls.

Threads: ``predict`` and ``evaluate`` may run concurrently on one model (each
call takes its own workspace); one model trains in one thread at a time
(a second ``fit``/``train_on_batch`` raises ``RuntimeError``). Copies
(``copy.deepcopy``, ``pickle``) are independent models that train exactly
like the original.
"""

import copy
import math
import threading
import weakref

import numpy as np

from fastnn import _inputs, _model_state, training
from fastnn import losses as losses_module
from fastnn import optimizers as optimizers_module
from fastnn._backend import get_backend
from fastnn._divergence import DivergenceError, diverged  # noqa: F401 - re-exported
from fastnn._workspace import TrainingGuard, Workspace, WorkspacePool
from fastnn.kernels.cpu.activations import ACTIVATION_CODES
from fastnn.kernels.cpu.dense import (
    dense_stack_cross_entropy_step,
    dense_stack_forward,
)
from fastnn.layers import Dense, DenseWithActivation, Layer, fuse
from fastnn.layers import from_config as layer_from_config
from fastnn.losses import CrossEntropy

METRICS = ("accuracy",)


class Sequential:
    """A feed-forward network: layers applied in order.

    ``Sequential([Dense(784, 512, activation="relu"), Dense(512, 10)])``.
    ``dtype`` is "float32" (default) or "float64"; ``device`` "cpu" or "cuda";
    parameters are initialised from ``seed`` now, or lazily on first use (from
    ``fit``'s seed when given). Consecutive Dense + activation layers run as
    one fused kernel call.
    """

    def __init__(
        self, layers, dtype="float32", device="cpu", seed=None, input_scale=None
    ):
        if isinstance(layers, Layer) or not hasattr(layers, "__iter__"):
            raise TypeError(
                f"layers: expected a list of fastnn layers, got {type(layers).__name__}"
            )
        layers = list(layers)
        if not layers:
            raise ValueError("layers: a Sequential needs at least one layer")
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(
                    f"layers[{i}]: expected a fastnn layer, got {type(layer).__name__}"
                )
        if not hasattr(layers[0], "in_features"):
            raise ValueError(
                "layers[0]: the first layer must be a Dense layer (it fixes the input width)"
            )
        _model_state.check_layers_unshared(layers)
        self.dtype = _model_state.model_dtype(dtype)
        self.input_scale = _model_state.input_scale(input_scale)
        self._backend = get_backend(device)
        self.layers = layers
        self.device = device
        self._stages = fuse(layers)
        self.in_features = layers[0].in_features
        self._widths = [self.in_features]
        for stage in self._stages:
            inner = stage.dense if hasattr(stage, "dense") else stage
            self._widths.append(inner.output_features(self._widths[-1]))
        self.out_features = self._widths[-1]
        self.loss = None
        self.optimizer = None
        self.metrics = []
        self.epochs_trained = 0
        self.params = self.grads = None
        self._stack_params = None
        self._init_runtime()
        if seed is not None:
            self.build(seed)
        for layer in layers:  # claimed last: a failed __init__ claims nothing
            if layer.param_names or layer.needs_noise:
                layer._owner = weakref.ref(self)

    def _init_runtime(self):
        """Per-process state that is never copied or pickled: workspaces and
        locks (a copy gets fresh ones)."""
        self._layout = self._layout_key()
        self._train_ws = None
        self._graph_program = None  # the GPU's recorded training step
        self._graph_report = {}  # whether GPU work ran as CUDA graphs, and why not
        self._infer_pool = WorkspacePool()
        self._training = TrainingGuard()
        self._build_lock = threading.Lock()

    def _layout_key(self):
        """What a workspace's buffers depend on besides the widths."""
        kind = self.loss.target_kind if self.loss is not None else None
        return (self._backend.name, kind)

    def _reset_workspaces(self):
        self._layout = self._layout_key()
        self._train_ws = None
        self._graph_program = None
        self._infer_pool.clear()

    # ----------------------------------------------------------- parameters
    @property
    def built(self):
        return self.params is not None

    def _param_layout(self):
        """[(layer, [shape, ...]), ...] in storage order, with input widths."""
        layout, width = [], self.in_features
        for layer in self.layers:
            layout.append((layer, layer.param_shapes(width), width))
            width = layer.output_features(width)
        return layout

    @property
    def n_params(self):
        return sum(
            int(np.prod(s)) for _, shapes, _ in self._param_layout() for s in shapes
        )

    def build(self, seed=None):
        """Initialise the parameters from ``seed`` (None: fresh randomness)."""
        self._training.refuse_if_training_elsewhere("build")
        rng = np.random.default_rng(seed)
        host = np.empty(self.n_params, self.dtype)
        offset = 0
        for layer, _, width in self._param_layout():
            for array in layer.init_params(rng, width, self.dtype):
                host[offset : offset + array.size] = array.reshape(-1)
                offset += array.size
        self._set_flat(host)
        return self

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
        dense_stages = []
        for stage in self._stages:
            if isinstance(stage, Dense):
                dense_stages.append(
                    (stage, stage.kernel_activation, stage.negative_slope)
                )
            elif isinstance(stage, DenseWithActivation):
                dense_stages.append(
                    (
                        stage.dense,
                        stage.activation.kernel_name,
                        stage.activation.negative_slope,
                    )
                )
            else:
                return None
        if self._backend.name != "cpu" or self.grads is None:
            return None
        layers = [d for d, _, _ in dense_stages]
        return (
            tuple(d.W for d in layers),
            tuple(d.b for d in layers),
            tuple(d.dW for d in layers),
            tuple(d.db for d in layers),
            np.array([ACTIVATION_CODES[a] for _, a, _ in dense_stages], np.int64),
            np.array([s for _, _, s in dense_stages], np.float64),
        )

    def _ensure_built(self, seed=None):
        if self.params is None:
            with self._build_lock:  # two first predicts must not both build
                if self.params is None:
                    self.build(seed)

    def to(self, device):
        """Move parameters and optimizer state to ``device`` ("cpu" or "cuda")."""
        if device == self.device:
            return self
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
            for name, host in state.items():
                backend.copy_into(self.optimizer.state[name], host)
        return self

    def get_weights(self):
        """A host copy of the flat parameter vector."""
        self._ensure_built()
        return np.array(self._backend.to_host(self.params), copy=True)

    def set_weights(self, flat):
        """Load a flat parameter vector (as returned by ``get_weights``)."""
        self._training.refuse_if_training_elsewhere("set_weights")
        flat = np.asarray(flat, self.dtype).reshape(-1)
        if flat.size != self.n_params:
            raise ValueError(
                f"weights: expected {self.n_params} values, got {flat.size}"
            )
        self._ensure_built()
        self._backend.copy_into(self.params, flat)

    def parameters(self):
        """{"layers.<i>.<name>": host copy of each parameter array}."""
        self._ensure_built()
        out = {}
        for i, layer in enumerate(self.layers):
            for name in layer.param_names:
                out[f"layers.{i}.{name}"] = np.array(
                    self._backend.to_host(getattr(layer, name))
                )
        return out

    # -------------------------------------------------------------- compile
    def compile(self, optimizer="sgd", loss="cross_entropy", metrics=None):
        """Choose the optimizer (name or instance), loss and metrics.

        An optimizer instance holds its model's state buffers, so it belongs
        to one model (``copy.deepcopy(optimizer)`` for another). Everything
        is checked before anything changes: a failed compile leaves the model
        as it was.
        """
        self._training.refuse_if_training_elsewhere("compile")
        optimizer = optimizers_module.get(optimizer)
        loss = losses_module.get(loss)
        if isinstance(metrics, str) or not hasattr(metrics or [], "__iter__"):
            raise ValueError(f"metrics: expected a list of names, got {metrics!r}")
        metrics = list(metrics or [])
        for metric in metrics:
            if not isinstance(metric, str) or metric not in METRICS:
                raise ValueError(
                    f"metrics: unknown {metric!r}; expected some of {METRICS}"
                )
            if getattr(loss, "correct", None) is None:
                raise ValueError(
                    f"metrics: 'accuracy' is undefined for loss {loss.name!r}"
                )
        _model_state.claim_optimizer(optimizer, self)
        if self.optimizer is not None and self.optimizer is not optimizer:
            _model_state.release_optimizer(self.optimizer, self)
        self.optimizer, self.loss, self.metrics = optimizer, loss, metrics
        self._reset_workspaces()
        if self.built:
            self.optimizer.allocate(self._backend, self.params.shape[0], self.dtype)
        return self

    def _require_compiled(self):
        if self.loss is None or self.optimizer is None:
            raise RuntimeError(
                "the model is not compiled: call model.compile(optimizer=..., loss=...) first"
            )

    # ----------------------------------------------------------------- data
    def _check_xy(self, x, y, name_x="x", name_y="y"):
        x = self._check_x(x, name_x)
        if self.loss.target_kind == "labels":
            y = _inputs.labels(y, x.shape[0], self.out_features, name_y)
        else:
            y = _inputs.targets(
                y,
                x.shape[0],
                self.out_features,
                self.dtype,
                name_y,
                self.loss.target_range,
            )
        return x, y

    def _check_x(self, x, name="x"):
        """Checked features, kept in their own real dtype (uint8 images stay
        uint8): each batch is converted, and scaled, as it is read."""
        return _inputs.features(
            x, self.in_features, self.dtype, name, scale=self._input_multiplier
        )

    # ---------------------------------------------------------------- steps
    # The input of a step is passed as ``x`` (the first stage only reads it);
    # ``bufs.acts[0]`` is merely where fit gathers a batch and where a device
    # copy of the input lives.
    def _forward(self, bufs, x, training):
        acts = bufs.acts
        if self._stack_params is not None:  # a plain dense stack: one kernel call
            weights, biases, _, _, codes, slopes = self._stack_params
            dense_stack_forward(x, weights, biases, bufs.stack_outs, codes, slopes)
            return
        ops = self._backend.ops
        for i, stage in enumerate(self._stages):
            stage.forward(ops, x if i == 0 else acts[i], acts[i + 1], training)

    def _backward(self, bufs, x):
        ops = self._backend.ops
        acts, grads = bufs.acts, bufs.grads
        for i in range(len(self._stages) - 1, -1, -1):
            self._stages[i].backward(
                ops, x if i == 0 else acts[i], acts[i + 1], grads[i + 1], grads[i]
            )

    def _readable_input(self, bufs, x_rows):
        """The array the kernels read for rows of checked input (any real
        dtype, C-contiguous): on the CPU the rows themselves when they are of
        the model's dtype and unscaled (no copy), else their conversion into
        the batch's input buffer."""
        if (
            self._backend.name == "cpu"
            and x_rows.dtype == self.dtype
            and self.input_scale is None
        ):
            return x_rows
        self._backend.convert_inputs(x_rows, bufs.acts[0], self._input_multiplier)
        return bufs.acts[0]

    @property
    def _input_multiplier(self):
        return 1.0 if self.input_scale is None else self.input_scale

    def _infer(self, bufs, x_rows):
        """Inference-mode forward on rows of checked input."""
        self._forward(bufs, self._readable_input(bufs, x_rows), training=False)

    def _train_step(self, bufs, x, epoch, step=None, history=None, weighted=False):
        """Forward, loss, backward and one optimizer update on the batch whose
        input is ``x`` and whose targets (and, ``weighted``, row weights from
        ``_set_batch_weights``) are in ``bufs``."""
        ops = self._backend.ops
        row_weights = bufs.weights if weighted else None
        fused = self._stack_params is not None and isinstance(self.loss, CrossEntropy)
        if fused:  # forward, loss and backward in one kernel call
            weights, biases, dweights, dbiases, codes, slopes = self._stack_params
            loss = dense_stack_cross_entropy_step(
                x,
                bufs.targets,
                weights,
                biases,
                bufs.stack_outs,
                bufs.stack_douts,
                dweights,
                dbiases,
                codes,
                slopes,
                row_weights,
            )
        else:
            self._forward(bufs, x, training=True)
            loss = self.loss(
                ops, bufs.acts[-1], bufs.targets, bufs.grads[-1], row_weights
            )
        if not math.isfinite(loss):
            raise diverged("loss", loss, epoch, step, history)
        if not fused:
            self._backward(bufs, x)
        refused = self.optimizer.step(ops, self.params, self.grads, epoch, guard=True)
        if refused:
            raise diverged("update", loss, epoch, step, history)
        return loss

    def train_on_batch(self, x, y, seed=None, sample_weight=None, class_weight=None):
        """One gradient step on the batch (x, y); returns its loss (before the
        step). Counts toward the optimizer's steps but not ``epochs_trained``.
        ``sample_weight``/``class_weight`` as in ``fit``."""
        self._require_compiled()
        x, y = self._check_xy(x, y)
        weights = None
        if sample_weight is not None or class_weight is not None:
            weights = self._check_weights(sample_weight, class_weight, y)
        with self._training:
            self._ensure_built(seed)
            bufs = self._train_buffers(len(x))
            be = self._backend
            if bufs.has_noise:
                self._draw_noise(bufs, np.random.default_rng(seed))
            be.copy_into(bufs.targets, y)
            if weights is not None:
                self._set_batch_weights(bufs, weights)
            x = self._readable_input(bufs, x)
            return self._train_step(
                bufs, x, self.epochs_trained, weighted=weights is not None
            )

    def _check_weights(self, sample_weight, class_weight, y):
        """Per-sample loss weights (model dtype) from fit's ``sample_weight``
        and ``class_weight``, or None when both are None."""
        kind = self.loss.target_kind
        return _inputs.sample_weights(
            sample_weight, class_weight, y, self.out_features, self.dtype, kind
        )

    def _set_batch_weights(self, bufs, batch_weights):
        """Put the batch's row weights, rescaled to a weighted mean
        (w * B / sum(w), scikit-learn's convention), into ``bufs.weights``;
        return sum(w). A batch of zero weights moves nothing (all zero)."""
        total = float(np.sum(batch_weights, dtype=np.float64))
        scale = len(batch_weights) / total if total > 0 else 0.0
        self._backend.copy_into(
            bufs.weights, (batch_weights * scale).astype(self.dtype, copy=False)
        )
        return total

    def _draw_noise(self, bufs, rng):
        for stage, noise in zip(self._stages, bufs.noise):
            if noise is not None:
                self._backend.fill_uniform(rng, noise)
                stage.noise = noise

    def _train_buffers(self, rows):
        """Training buffers for ``rows`` rows: views of the one training
        workspace, regrown (never kept twice) when a larger batch arrives."""
        ws = self._train_ws
        if ws is None or ws.capacity < rows or ws.layout != self._layout:
            ws = self._train_ws = None  # free the old buffers before allocating
            ws = self._train_ws = Workspace(self, rows, with_grads=True)
        return ws.rows(rows)

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        x,
        y,
        epochs=1,
        batch_size=32,
        validation_data=None,
        validation_split=0.0,
        shuffle=True,
        seed=None,
        verbose=1,
        callbacks=None,
        sample_weight=None,
        class_weight=None,
    ):
        """Train with mini-batch gradient descent; returns a ``History``.

        ``batch_size=1`` is stochastic, ``batch_size=len(x)`` full-batch
        gradient descent. Epochs continue the model's count
        (``epochs_trained``), so a saved and reloaded model resumes exactly
        when given the same ``seed``. ``validation_split`` holds out the last
        fraction of (x, y) before shuffling. ``verbose=0`` is silent; 1 shows
        a progress bar per epoch on a terminal (one line per epoch when output
        goes to a file or pipe); 2 always prints one line per epoch.
        ``callbacks``: objects with any of the hooks of ``fastnn.Callback``.
        ``sample_weight`` (N,) weights each sample's loss and
        ``class_weight`` ({class: weight} or "balanced", class labels only)
        each class's; they multiply, and every batch minimises the weighted
        mean sum(w_i l_i) / sum(w_i), scikit-learn's convention (a batch
        whose weights are all 0 has a zero gradient). The logged
        loss is the weighted mean; accuracy and validation are unweighted.
        A NaN/inf loss raises ``DivergenceError`` with the weights from before
        that step kept. One model trains in one thread at a time: a concurrent
        ``fit``/``train_on_batch`` on it raises ``RuntimeError``.
        """
        return training.fit(
            self,
            x,
            y,
            epochs,
            batch_size,
            validation_data,
            validation_split,
            shuffle,
            seed,
            verbose,
            callbacks,
            sample_weight,
            class_weight,
        )

    def _accuracy_units(self):
        """Predictions per sample counted by the accuracy metric."""
        return 1 if self.loss.target_kind == "labels" else self.out_features

    # ----------------------------------------------------- evaluate/predict
    def evaluate(self, x, y, batch_size=1024, sample_weight=None):
        """Mean loss (and metrics) over (x, y) in inference mode, as a dict.

        With ``sample_weight`` (N,) the loss is the weighted mean
        sum(w_i l_i) / sum(w_i); accuracy stays the plain fraction correct.
        """
        self._require_compiled()
        x, y = self._check_xy(x, y)
        weights = self._check_weights(sample_weight, None, y)
        self._ensure_built()
        return self._evaluate_arrays(x, y, batch_size, weights)

    def _evaluate_arrays(self, x, y, batch_size, weights=None):
        be, ops = self._backend, self._backend.ops
        n = len(x)
        batch = _inputs.batch_size(batch_size, n)
        x_dev, y_dev = be.to_device(x), be.to_device(y)
        loss_sum, correct = 0.0, 0
        ws = self._infer_pool.acquire(self, min(batch, n))
        try:
            for lo in range(0, n, batch):
                hi = min(n, lo + batch)
                bufs = ws.rows(hi - lo)
                be.copy_into(bufs.targets, y_dev[lo:hi])
                self._infer(bufs, x_dev[lo:hi])
                outputs = bufs.acts[-1]
                if weights is None:
                    loss = self.loss(ops, outputs, bufs.targets, None)
                    loss_sum += loss * (hi - lo)
                else:  # weighted: sum(w l) over the chunk, divided below
                    w_sum = self._set_batch_weights(bufs, weights[lo:hi])
                    loss = self.loss(ops, outputs, bufs.targets, None, bufs.weights)
                    loss_sum += loss * w_sum
                if "accuracy" in self.metrics:
                    correct += self.loss.correct(ops, outputs, bufs.targets)
        finally:
            self._infer_pool.release(self, ws)
        denominator = n if weights is None else float(np.sum(weights, dtype=np.float64))
        result = {"loss": loss_sum / denominator}
        if "accuracy" in self.metrics:
            result["accuracy"] = correct / (n * self._accuracy_units())
        return result

    def predict(self, x, batch_size=1024):
        """Network outputs for x (N, F) as a NumPy array (N, O), inference mode.

        Rows go through the network ``batch_size`` at a time, so memory stays
        bounded by one batch's activations whatever N is.
        """
        x = self._check_x(x)
        self._ensure_built()
        n = len(x)
        batch = _inputs.batch_size(batch_size, n)
        ws = self._infer_pool.acquire(self, batch)
        try:
            if n == batch:  # one chunk, the serving case: fewest Python steps
                out = self._predict_rows(ws, x)
                # a view of the workspace is copied: it serves the next call
                return out.copy() if out.base is not None else out
            result = np.empty((n, self.out_features), self.dtype)
            for lo in range(0, n, batch):
                hi = min(n, lo + batch)
                result[lo:hi] = self._predict_rows(ws, x[lo:hi])
        finally:
            self._infer_pool.release(self, ws)
        return result

    def _predict_rows(self, ws, x_rows):
        """Outputs for checked rows on the host (a view of the workspace on
        the CPU); on the GPU through a recorded forward pass."""
        if self._backend.name == "cuda":
            from fastnn import _cuda_graphs

            if _cuda_graphs.enabled():
                return _cuda_graphs.forward_graph(self, ws, len(x_rows))(x_rows)
        bufs = ws.rows(len(x_rows))
        self._infer(bufs, x_rows)
        return self._backend.to_host(bufs.acts[-1])

    # ------------------------------------------------------------- display
    def summary(self):
        """Print the layer table: output shapes and parameter counts."""
        print(self.summary_text())

    def summary_text(self):
        rows = [("Layer (type)", "Output Shape", "Param #")]
        width = self.in_features
        for i, (layer, shapes, _) in enumerate(self._param_layout()):
            width = layer.output_features(width)
            count = sum(int(np.prod(s)) for s in shapes)
            rows.append(
                (
                    f"{type(layer).__name__.lower()}_{i} ({type(layer).__name__})",
                    f"(None, {width})",
                    f"{count:,}",
                )
            )
        widths = [max(len(r[c]) for r in rows) + 2 for c in range(3)]
        line = "=" * sum(widths)
        out = [f"Model: Sequential ({self.dtype}, {self.device})", line]
        for j, row in enumerate(rows):
            out.append("".join(cell.ljust(w) for cell, w in zip(row, widths)))
            if j == 0:
                out.append(line)
        out += [line, f"Total params: {self.n_params:,}"]
        return "\n".join(out)

    def __repr__(self):
        inner = ", ".join(repr(layer) for layer in self.layers)
        return (
            f"Sequential([{inner}], dtype={str(self.dtype)!r}, device={self.device!r})"
        )

    # --------------------------------------------------------- persistence
    def save(self, path):
        """Write weights, optimizer state and config to one .safetensors file,
        atomically (see ``fastnn.persistence``)."""
        from fastnn.persistence import save_model

        save_model(self, path)

    def to_onnx(self, path):
        """Write the trained network as an ONNX graph (opset 17) for inference
        runtimes; needs the ``onnx`` package (see ``fastnn._onnx``)."""
        from fastnn import _onnx

        _onnx.save(self, path)

    def get_config(self):
        config = {
            "layers": [
                {"class": type(layer).__name__, "config": layer.get_config()}
                for layer in self.layers
            ],
            "dtype": str(self.dtype),
        }
        if self.input_scale is not None:
            config["input_scale"] = self.input_scale
        return config

    @classmethod
    def from_config(cls, config, device="cpu"):
        """A new, untrained model with the architecture of ``get_config()``'s
        dict (fresh layers; weights are initialised on first use)."""
        if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
            raise ValueError("config: expected a dict with a 'layers' list")
        layers = [layer_from_config(entry) for entry in config["layers"]]
        return cls(
            layers,
            dtype=config.get("dtype", "float32"),
            device=device,
            input_scale=config.get("input_scale"),
        )

    # ------------------------------------------------------ copy and pickle
    def __getstate__(self):
        return _model_state.snapshot(self)

    def __setstate__(self, state):
        _model_state.restore(self, state)

    def __copy__(self):
        # a shallow copy would share layers bound to this model's buffers
        return copy.deepcopy(self)
