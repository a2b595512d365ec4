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

from __future__ import annotations

import copy
import threading
import weakref
from typing import TYPE_CHECKING, Any, Iterable

import numpy as np
import numpy.typing as npt

from fastnn import _dask, _inputs, _model_state, training
from fastnn import losses as losses_module
from fastnn import optimizers as optimizers_module
from fastnn._backend import get_backend
from fastnn._divergence import DivergenceError, diverged  # noqa: F401 - re-exported
from fastnn._model_io import ModelDescription
from fastnn._model_params import FlatParameters
from fastnn._model_steps import BatchSteps
from fastnn._workspace import TrainingGuard, WorkspacePool
from fastnn.layers import Layer, fuse
from fastnn.layers import from_config as layer_from_config
from fastnn.losses import Loss
from fastnn.optimizers import Optimizer

if TYPE_CHECKING:
    from fastnn.callbacks import Callback, History

METRICS = ("accuracy",)


class Sequential(FlatParameters, BatchSteps, ModelDescription):
    """A feed-forward network: layers applied in order.

    ``Sequential([Dense(784, 512, activation="relu"), Dense(512, 10)])``.
    Consecutive Dense + activation layers run as one fused kernel call.

    Parameters
    ----------
    layers : iterable of Layer
        The layers, in order; the first is a ``Dense`` (it fixes the input
        width). A layer with weights belongs to one model.
    dtype : {"float32", "float64"}, default "float32"
        dtype of the parameters, activations and outputs.
    device : {"cpu", "cuda"}, default "cpu"
        Where parameters and computation live.
    seed : int, optional
        Initialise the parameters from ``seed`` now; None: lazily on first
        use (from ``fit``'s seed when given).
    input_scale : float, optional
        A factor (> 0) every input is multiplied by as it is read (e.g.
        1/255 for raw pixels), saved with the model.

    Attributes
    ----------
    in_features, out_features : int
        The input width ``F`` and output width ``O``.
    loss : Loss or None
        Set by ``compile``.
    optimizer : Optimizer or None
        Set by ``compile``.
    metrics : list of str
        Set by ``compile``.
    epochs_trained : int
        Epochs that ``fit`` has run (saved with the model).

    Raises
    ------
    TypeError
        When ``layers`` is not a list of fastnn layers.
    ValueError
        For an empty list, a first layer that is not Dense, mismatched
        widths, a shared layer, or a bad dtype, device or input_scale.
    """

    loss: Loss | None
    optimizer: Optimizer | None
    metrics: list[str]
    epochs_trained: int
    params: Any
    grads: Any

    def __init__(
        self,
        layers: Iterable[Layer],
        dtype: npt.DTypeLike = "float32",
        device: str = "cpu",
        seed: int | None = None,
        input_scale: float | None = None,
    ) -> None:
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
    def build(self, seed: int | None = None) -> Sequential:
        """Initialise the parameters (again, when built already).

        Parameters
        ----------
        seed : int, optional
            Seed of the random initialisation; None: fresh randomness.

        Returns
        -------
        Sequential
            The model itself.
        """
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

    # -------------------------------------------------------------- compile
    def compile(
        self,
        optimizer: Optimizer | str = "sgd",
        loss: Loss | str = "cross_entropy",
        metrics: Iterable[str] | None = None,
    ) -> Sequential:
        """Choose the optimizer (name or instance), loss and metrics.

        An optimizer instance holds its model's state buffers, so it belongs
        to one model (``copy.deepcopy(optimizer)`` for another). Everything
        is checked before anything changes: a failed compile leaves the model
        as it was.

        Parameters
        ----------
        optimizer : Optimizer or {"sgd", "adam", "adamw"}, default "sgd"
            An optimizer, or the name of one with default hyperparameters.
        loss : Loss or {"cross_entropy", "mse", "binary_cross_entropy"}
            The loss (default ``"cross_entropy"``: logits and integer labels).
        metrics : list of str, optional
            Metrics that ``fit`` and ``evaluate`` report: ``["accuracy"]``
            (for cross-entropy and binary cross-entropy) or none.

        Returns
        -------
        Sequential
            The model itself.

        Raises
        ------
        ValueError
            For an unknown optimizer, loss or metric, or an optimizer that
            belongs to another model.
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

    # ---------------------------------------------------------------- steps
    def train_on_batch(
        self,
        x: npt.ArrayLike,
        y: npt.ArrayLike,
        seed: int | None = None,
        sample_weight: npt.ArrayLike | None = None,
        class_weight: dict[int, float] | str | None = None,
    ) -> float:
        """One gradient step on the batch (x, y).

        Counts toward the optimizer's steps but not ``epochs_trained``.

        Parameters
        ----------
        x : array_like (B, F)
            Features, of any real dtype.
        y : array_like
            Integer labels (B,) for cross-entropy, else targets (B, O).
        seed : int, optional
            Seeds the initialisation of an unbuilt model and the dropout
            masks.
        sample_weight, class_weight
            As in ``fit``.

        Returns
        -------
        float
            The batch's loss before the step.
        """
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

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        x: npt.ArrayLike,
        y: npt.ArrayLike,
        epochs: int = 1,
        batch_size: int = 32,
        validation_data: tuple[npt.ArrayLike, npt.ArrayLike] | None = None,
        validation_split: float = 0.0,
        shuffle: bool = True,
        seed: int | None = None,
        verbose: int = 1,
        callbacks: Iterable[Callback] | None = None,
        sample_weight: npt.ArrayLike | None = None,
        class_weight: dict[int, float] | str | None = None,
    ) -> History:
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

        Parameters
        ----------
        x : array_like (N, F)
            Features, of any real dtype (converted a batch at a time).
        y : array_like
            Integer labels (N,) for cross-entropy, else targets (N, O).
        epochs : int, default 1
            Epochs to run.
        batch_size : int, default 32
            Rows per gradient step.
        validation_data : tuple (x_val, y_val), optional
            Evaluated after every epoch.
        validation_split : float, default 0.0
            Fraction of (x, y), taken from the end, held out for validation.
        shuffle : bool, default True
            Shuffle the rows every epoch.
        seed : int, optional
            Makes the run repeatable (initialisation, shuffling, dropout).
        verbose : {0, 1, 2}, default 1
            Silent, progress bar, or one line per epoch.
        callbacks : list of Callback, optional
            Objects with any of ``fastnn.Callback``'s hooks.
        sample_weight : array_like (N,), optional
            Weight of each sample's loss (>= 0).
        class_weight : dict or "balanced", optional
            Weight of each class's loss (class labels only).

        Returns
        -------
        History
            The per-epoch logs (``history.history["loss"]`` etc.).

        Raises
        ------
        DivergenceError
            When the loss or an update becomes NaN/inf.
        RuntimeError
            When the model is not compiled, or trains in another thread.
        ValueError
            For malformed data, weights or arguments.
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
    def evaluate(
        self,
        x: Any,
        y: Any,
        batch_size: int = 1024,
        sample_weight: Any = None,
    ) -> dict[str, float]:
        """Mean loss (and metrics) over (x, y) in inference mode, as a dict.

        With ``sample_weight`` (N,) the loss is the weighted mean
        sum(w_i l_i) / sum(w_i); accuracy stays the plain fraction correct.
        Dask collections (arrays, a DataFrame for ``x``, a Series or
        DataFrame for ``y`` and ``sample_weight``) are evaluated chunk by
        chunk on the Dask workers, with the same result (see
        ``fastnn._dask``); the model must then be built.

        Parameters
        ----------
        x : array_like (N, F) or Dask array / DataFrame
            Features, of any real dtype.
        y : array_like or Dask array / Series / DataFrame
            Integer labels (N,) for cross-entropy, else targets (N, O).
        batch_size : int, default 1024
            Rows per forward pass (bounds the memory used).
        sample_weight : array_like (N,) or Dask array / Series, optional
            Weight of each sample's loss (>= 0, not all 0).

        Returns
        -------
        dict of str to float
            ``{"loss": ...}``, plus ``"accuracy"`` (the fraction of right
            predictions: of rows for labels, of output elements for binary
            targets) when it is a metric.

        Raises
        ------
        RuntimeError
            When the model is not compiled (or, for Dask data, not built).
        ValueError
            For malformed data or weights.
        """
        self._require_compiled()
        if _dask.any_collection(x, y, sample_weight):
            return _dask.evaluate(self, x, y, batch_size, sample_weight)
        x, y = self._check_xy(x, y)
        weights = self._check_weights(sample_weight, None, y)
        self._ensure_built()
        return self._evaluate_arrays(x, y, batch_size, weights)

    def predict(self, x: Any, batch_size: int = 1024) -> npt.NDArray[Any]:
        """Network outputs for x (N, F) as a NumPy array (N, O), inference mode.

        Rows go through the network ``batch_size`` at a time, so memory stays
        bounded by one batch's activations whatever N is. A Dask array or
        DataFrame gives a lazy Dask array (N, O) computed chunk by chunk on
        the Dask workers (see ``fastnn._dask``); the model must then be built.

        Parameters
        ----------
        x : array_like (N, F) or Dask array / DataFrame
            Features, of any real dtype. An unbuilt model is built first
            (in-memory input only).
        batch_size : int, default 1024
            Rows per forward pass.

        Returns
        -------
        numpy.ndarray (N, O)
            The outputs (logits for the classification losses), of the
            model's dtype; a ``dask.array.Array`` for Dask input.

        Raises
        ------
        ValueError
            For malformed features (shape, dtype, NaN/inf).
        """
        if _dask.is_collection(x):
            return _dask.predict(self, x, batch_size)
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

    # ------------------------------------------------------------- display
    def __repr__(self) -> str:
        inner = ", ".join(repr(layer) for layer in self.layers)
        return (
            f"Sequential([{inner}], dtype={str(self.dtype)!r}, device={self.device!r})"
        )

    # --------------------------------------------------------- persistence
    @classmethod
    def from_config(cls, config: dict[str, Any], device: str = "cpu") -> Sequential:
        """A new, untrained model with the architecture of ``get_config()``'s
        dict (fresh layers; weights are initialised on first use).

        Parameters
        ----------
        config : dict
            What ``get_config`` returned.
        device : {"cpu", "cuda"}, default "cpu"
            The new model's device.

        Returns
        -------
        Sequential

        Raises
        ------
        ValueError
            For a malformed config.
        """
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
