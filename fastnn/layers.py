"""Layers: short classes that hold parameters and call kernels.

Each layer has ``forward(ops, x, out, training)`` and, right below it,
``backward(ops, x, out, dout, dx)``, where ``ops`` is the kernel module of the
model's device, x (B, I) the layer input, out (B, O) its output, dout = dL/dout
(may be overwritten) and dx = dL/dx (None for the first layer). Parameters and
their gradients are views into the model's flat buffers, bound by
``Sequential``; layers allocate nothing per batch.
"""

from __future__ import annotations

import weakref
from typing import Any, Callable

import numpy as np
import numpy.typing as npt

from fastnn import initializers
from fastnn._hyperparams import real
from fastnn.kernels import ACTIVATIONS


class Layer:
    """Base class: a layer without parameters that keeps the feature count."""

    #: Names of this layer's parameters, in storage order.
    param_names: tuple[str, ...] = ()
    #: Whether the forward pass in training mode needs uniform noise.
    needs_noise = False
    #: Attributes bound by the owning model (views of its buffers), dropped
    #: when a layer is copied or pickled: a copy is unbound until a model
    #: binds it again.
    bound_attributes: tuple[str, ...] = ()
    #: Weak reference to the Sequential that owns this layer (set by it).
    _owner: weakref.ref[Any] | None = None

    def output_features(self, in_features: int) -> int:
        """The width of this layer's output.

        Parameters
        ----------
        in_features : int
            The width of its input (``I``).

        Returns
        -------
        int
            ``O``; the same as ``in_features`` for a layer that keeps it.
        """
        return in_features

    def param_shapes(self, in_features: int) -> list[tuple[int, ...]]:
        """The shapes of this layer's parameters, in storage order.

        Parameters
        ----------
        in_features : int
            The width of its input.

        Returns
        -------
        list of tuple of int
            One shape per name in ``param_names`` (empty without parameters).
        """
        return []

    def init_params(
        self, rng: np.random.Generator, in_features: int, dtype: npt.DTypeLike
    ) -> list[npt.NDArray[Any]]:
        """Initial values of this layer's parameters.

        Parameters
        ----------
        rng : numpy.random.Generator
            Source of the random values.
        in_features : int
            The width of its input.
        dtype : numpy dtype
            The model's dtype.

        Returns
        -------
        list of numpy.ndarray
            One array per name in ``param_names``, shaped as ``param_shapes``.
        """
        return []

    def bind(self, params: list[Any], grads: list[Any]) -> None:
        """Attach views of the model's flat parameter and gradient buffers.

        Parameters
        ----------
        params, grads : list of arrays
            Views of the parameters and of their gradients, one per name in
            ``param_names``.
        """

    def forward(self, ops: Any, x: Any, out: Any, training: bool) -> None:
        """Write this layer's output for the input ``x`` into ``out``.

        Parameters
        ----------
        ops : module
            The kernel module of the model's device.
        x : array (B, I)
            The layer's input.
        out : array (B, O)
            Where the output is written.
        training : bool
            Training mode (dropout is active) or inference.
        """
        raise NotImplementedError

    def backward(self, ops: Any, x: Any, out: Any, dout: Any, dx: Any) -> None:
        """Write dL/dx into ``dx`` (and the parameters' gradients into their
        bound buffers) from dL/dout.

        Parameters
        ----------
        ops : module
            The kernel module of the model's device.
        x : array (B, I)
            The layer's input in the forward pass.
        out : array (B, O)
            Its output in the forward pass.
        dout : array (B, O)
            dL/dout; may be overwritten.
        dx : array (B, I) or None
            Where dL/dx is written; None for a first layer.
        """
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments that rebuild this layer (``from_config``).

        Returns
        -------
        dict
            Keyword arguments of the layer's class; JSON-serialisable.
        """
        return {}

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_owner", None)
        for name in self.bound_attributes:
            if name in state:
                state[name] = None
        return state

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Dense(Layer):
    """Fully connected layer: ``y = act(x @ W + b)``, W (I, O), b (O,).

    ``activation``: None (linear) or one of identity, relu, leaky_relu, sigmoid,
    tanh, fused into the same kernel call as the matrix product. ``init``:
    "he", "xavier", "normal" or "zeros"; default "he" for relu/leaky_relu and
    "xavier" otherwise. Biases start at zero.

    Parameters
    ----------
    in_features : int
        ``I``, the input width.
    out_features : int
        ``O``, the output width.
    activation : str, optional
        The activation fused into the layer; None is linear.
    init : {"he", "xavier", "normal", "zeros"}, optional
        The weights' initializer; default from the activation.
    negative_slope : float, default 0.01
        The slope of leaky_relu for x < 0 (>= 0).

    Raises
    ------
    ValueError
        For a bad width, activation ("softmax" included: use a Softmax
        layer), init or slope.
    """

    param_names = ("W", "b")
    bound_attributes = ("W", "b", "dW", "db")

    def __init__(
        self,
        in_features: int,
        out_features: int,
        activation: str | None = None,
        init: str | None = None,
        negative_slope: float = 0.01,
    ) -> None:
        for name, value in (
            ("in_features", in_features),
            ("out_features", out_features),
        ):
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, np.integer))
                or value < 1
            ):
                raise ValueError(f"{name}: expected a positive int, got {value!r}")
        if activation == "softmax":
            raise ValueError(
                "activation: 'softmax' cannot be fused into Dense; train on logits "
                "with loss='cross_entropy' or add a Softmax() layer"
            )
        if activation is not None and activation not in ACTIVATIONS:
            raise ValueError(
                f"activation: unknown {activation!r}; expected None or one of {ACTIVATIONS}"
            )
        negative_slope = real("negative_slope", negative_slope, low=0)
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self.activation = activation
        self.negative_slope = float(negative_slope)
        self.init = init if init is not None else initializers.default_for(activation)
        initializers.get(self.init)  # validate now, not at build time
        self.kernel_activation = activation or "identity"
        self.W: Any = None
        self.b: Any = None
        self.dW: Any = None
        self.db: Any = None

    def output_features(self, in_features: int) -> int:
        """``out_features``; a ValueError when ``in_features`` differs from
        the layer's own."""
        if in_features != self.in_features:
            raise ValueError(
                f"Dense(in_features={self.in_features}) receives {in_features} "
                "features from the previous layer"
            )
        return self.out_features

    def param_shapes(self, in_features: int) -> list[tuple[int, ...]]:
        """W (I, O) and b (O,)."""
        return [(self.in_features, self.out_features), (self.out_features,)]

    def init_params(
        self, rng: np.random.Generator, in_features: int, dtype: npt.DTypeLike
    ) -> list[npt.NDArray[Any]]:
        """W from the layer's initializer, b zero."""
        init = initializers.get(self.init)
        shape = (self.in_features, self.out_features)
        weights = init(rng, self.in_features, self.out_features, shape, dtype)
        return [weights, np.zeros(self.out_features, dtype)]

    def bind(self, params: list[Any], grads: list[Any]) -> None:
        """Attach W, b and their gradients dW, db."""
        self.W, self.b = params
        self.dW, self.db = grads

    def forward(self, ops: Any, x: Any, out: Any, training: bool) -> None:
        """out = act(x @ W + b), one fused kernel call."""
        ops.dense_forward(
            x, self.W, self.b, out, self.kernel_activation, self.negative_slope
        )

    def backward(self, ops: Any, x: Any, out: Any, dout: Any, dx: Any) -> None:
        """dW, db and dx (unless None) from dout; reads act' from ``out``."""
        ops.dense_backward(
            x,
            self.W,
            out,
            dout,
            dx,
            self.dW,
            self.db,
            self.kernel_activation,
            self.negative_slope,
        )

    def get_config(self) -> dict[str, Any]:
        """in_features, out_features, activation, init, negative_slope."""
        return dict(
            in_features=self.in_features,
            out_features=self.out_features,
            activation=self.activation,
            init=self.init,
            negative_slope=self.negative_slope,
        )


class Activation(Layer):
    """Elementwise activation layer; a Dense before it absorbs it when fused."""

    kernel_name = "identity"
    negative_slope = 0.01

    def forward(self, ops: Any, x: Any, out: Any, training: bool) -> None:
        """out = act(x), elementwise."""
        ops.activation_forward(self.kernel_name, x, out, self.negative_slope)

    def backward(self, ops: Any, x: Any, out: Any, dout: Any, dx: Any) -> None:
        """dx = dout * act'(x), act' read from ``out``."""
        ops.activation_backward(self.kernel_name, out, dout, dx, self.negative_slope)


class ReLU(Activation):
    """max(x, 0)."""

    kernel_name = "relu"


class LeakyReLU(Activation):
    """x if x > 0 else negative_slope * x.

    Parameters
    ----------
    negative_slope : float, default 0.01
        The slope for x < 0 (>= 0).
    """

    kernel_name = "leaky_relu"

    def __init__(self, negative_slope: float = 0.01) -> None:
        self.negative_slope = real("negative_slope", negative_slope, low=0)

    def get_config(self) -> dict[str, Any]:
        """negative_slope."""
        return dict(negative_slope=self.negative_slope)


class Sigmoid(Activation):
    """1 / (1 + exp(-x))."""

    kernel_name = "sigmoid"


class Tanh(Activation):
    """tanh(x)."""

    kernel_name = "tanh"


class Softmax(Layer):
    """Row-wise softmax. For training, prefer logits with loss='cross_entropy'."""

    def forward(self, ops: Any, x: Any, out: Any, training: bool) -> None:
        """out = softmax(x) along each row."""
        ops.softmax(x, out)

    def backward(self, ops: Any, x: Any, out: Any, dout: Any, dx: Any) -> None:
        """dx from dout and the softmax output ``out``."""
        ops.softmax_backward(out, dout, dx)


class Dropout(Layer):
    """Inverted dropout: in training, zero each input with probability p and
    scale survivors by 1/(1-p); at inference, the identity.

    Parameters
    ----------
    p : float, default 0.5
        The probability of zeroing an input, in [0, 1).
    """

    needs_noise = True
    bound_attributes = ("noise",)

    def __init__(self, p: float = 0.5) -> None:
        p = real("p", p, low=0, high=1, high_open=True)
        self.p = float(p)
        self.noise: Any = None  # set by the model before each training forward

    def forward(self, ops: Any, x: Any, out: Any, training: bool) -> None:
        """Training: out = x * mask / (1 - p), the mask drawn from ``noise``;
        inference: out = x."""
        if training:
            ops.dropout_forward(x, self.noise, out, self.p)
        else:
            ops.activation_forward("identity", x, out)

    def backward(self, ops: Any, x: Any, out: Any, dout: Any, dx: Any) -> None:
        """dx = dout * mask / (1 - p), with the forward pass's ``noise``."""
        ops.dropout_backward(self.noise, dout, dx, self.p)

    def get_config(self) -> dict[str, Any]:
        """p."""
        return dict(p=self.p)


class DenseWithActivation(Layer):
    """A Dense followed by an activation layer, run as one fused kernel call.

    Parameters
    ----------
    dense : Dense
        A Dense without activation of its own (its parameters are used).
    activation : Activation
        The activation layer that follows it.
    """

    def __init__(self, dense: Dense, activation: Activation) -> None:
        self.dense = dense
        self.activation = activation

    def forward(self, ops: Any, x: Any, out: Any, training: bool) -> None:
        """out = act(x @ W + b) with the Dense's parameters."""
        d = self.dense
        ops.dense_forward(
            x,
            d.W,
            d.b,
            out,
            self.activation.kernel_name,
            self.activation.negative_slope,
        )

    def backward(self, ops: Any, x: Any, out: Any, dout: Any, dx: Any) -> None:
        """The Dense's gradients and dx, through the activation."""
        d = self.dense
        ops.dense_backward(
            x,
            d.W,
            out,
            dout,
            dx,
            d.dW,
            d.db,
            self.activation.kernel_name,
            self.activation.negative_slope,
        )


def fuse(layers: list[Layer]) -> list[Layer]:
    """The execution stages of a layer list.

    Parameters
    ----------
    layers : list of Layer
        A model's layers, in order.

    Returns
    -------
    list of Layer
        The same layers, with each Dense without activation that an
        activation layer follows replaced by one ``DenseWithActivation``.
    """
    stages: list[Layer] = []
    i = 0
    while i < len(layers):
        layer = layers[i]
        nxt = layers[i + 1] if i + 1 < len(layers) else None
        if (
            isinstance(layer, Dense)
            and layer.activation is None
            and isinstance(nxt, Activation)
        ):
            stages.append(DenseWithActivation(layer, nxt))
            i += 2
        else:
            stages.append(layer)
            i += 1
    return stages


LAYER_CLASSES: dict[str, Callable[..., Layer]] = {
    cls.__name__: cls
    for cls in (Dense, ReLU, LeakyReLU, Sigmoid, Tanh, Softmax, Dropout)
}


def from_config(entry: Any) -> Layer:
    """Rebuild a layer from ``{"class": name, "config": {...}}``.

    Parameters
    ----------
    entry : dict
        A layer's entry in ``Sequential.get_config()["layers"]``.

    Returns
    -------
    Layer
        A new, unbound layer.

    Raises
    ------
    ValueError
        Naming what is wrong with a malformed entry.
    """
    if not isinstance(entry, dict):
        raise ValueError(f"layer config: expected a dict, got {type(entry).__name__}")
    cls = LAYER_CLASSES.get(entry.get("class", ""))
    if cls is None:
        raise ValueError(f"unknown layer class {entry.get('class')!r} in model config")
    config = entry.get("config", {})
    if not isinstance(config, dict):
        raise ValueError(f"{cls.__name__} config: expected a dict, got {config!r}")
    try:
        return cls(**config)
    except TypeError as exc:  # an unknown or missing argument
        raise ValueError(f"{cls.__name__} config: {exc}") from None
