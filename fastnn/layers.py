"""Layers: short classes that hold parameters and call kernels.

Each layer has ``forward(ops, x, out, training)`` and, right below it,
``backward(ops, x, out, dout, dx)``, where ``ops`` is the kernel module of the
model's device, x (B, I) the layer input, out (B, O) its output, dout = dL/dout
(may be overwritten) and dx = dL/dx (None for the first layer). Parameters and
their gradients are views into the model's flat buffers, bound by
``Sequential``; layers allocate nothing per batch.
"""

import numpy as np

from fastnn import initializers
from fastnn._hyperparams import real
from fastnn.kernels import ACTIVATIONS


class Layer:
    """Base class: a layer without parameters that keeps the feature count."""

    #: Names of this layer's parameters, in storage order.
    param_names = ()
    #: Whether the forward pass in training mode needs uniform noise.
    needs_noise = False
    #: Attributes bound by the owning model (views of its buffers), dropped
    #: when a layer is copied or pickled: a copy is unbound until a model
    #: binds it again.
    bound_attributes = ()
    #: Weak reference to the Sequential that owns this layer (set by it).
    _owner = None

    def output_features(self, in_features):
        return in_features

    def param_shapes(self, in_features):
        return []

    def init_params(self, rng, in_features, dtype):
        return []

    def bind(self, params, grads):
        """Attach views of the model's flat parameter and gradient buffers."""

    def get_config(self):
        return {}

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_owner", None)
        for name in self.bound_attributes:
            if name in state:
                state[name] = None
        return state

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Dense(Layer):
    """Fully connected layer: ``y = act(x @ W + b)``, W (I, O), b (O,).

    ``activation``: None (linear) or one of identity, relu, leaky_relu, sigmoid,
    tanh, fused into the same kernel call as the matrix product. ``init``:
    "he", "xavier", "normal" or "zeros"; default "he" for relu/leaky_relu and
    "xavier" otherwise. Biases start at zero.
    """

    param_names = ("W", "b")
    bound_attributes = ("W", "b", "dW", "db")

    def __init__(
        self, in_features, out_features, activation=None, init=None, negative_slope=0.01
    ):
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
        self.W = self.b = self.dW = self.db = None

    def output_features(self, in_features):
        if in_features != self.in_features:
            raise ValueError(
                f"Dense(in_features={self.in_features}) receives {in_features} "
                "features from the previous layer"
            )
        return self.out_features

    def param_shapes(self, in_features):
        return [(self.in_features, self.out_features), (self.out_features,)]

    def init_params(self, rng, in_features, dtype):
        init = initializers.get(self.init)
        shape = (self.in_features, self.out_features)
        weights = init(rng, self.in_features, self.out_features, shape, dtype)
        return [weights, np.zeros(self.out_features, dtype)]

    def bind(self, params, grads):
        self.W, self.b = params
        self.dW, self.db = grads

    def forward(self, ops, x, out, training):
        ops.dense_forward(
            x, self.W, self.b, out, self.kernel_activation, self.negative_slope
        )

    def backward(self, ops, x, out, dout, dx):
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

    def get_config(self):
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

    def forward(self, ops, x, out, training):
        ops.activation_forward(self.kernel_name, x, out, self.negative_slope)

    def backward(self, ops, x, out, dout, dx):
        ops.activation_backward(self.kernel_name, out, dout, dx, self.negative_slope)


class ReLU(Activation):
    """max(x, 0)."""

    kernel_name = "relu"


class LeakyReLU(Activation):
    """x if x > 0 else negative_slope * x (negative_slope >= 0)."""

    kernel_name = "leaky_relu"

    def __init__(self, negative_slope=0.01):
        self.negative_slope = real("negative_slope", negative_slope, low=0)

    def get_config(self):
        return dict(negative_slope=self.negative_slope)


class Sigmoid(Activation):
    """1 / (1 + exp(-x))."""

    kernel_name = "sigmoid"


class Tanh(Activation):
    """tanh(x)."""

    kernel_name = "tanh"


class Softmax(Layer):
    """Row-wise softmax. For training, prefer logits with loss='cross_entropy'."""

    def forward(self, ops, x, out, training):
        ops.softmax(x, out)

    def backward(self, ops, x, out, dout, dx):
        ops.softmax_backward(out, dout, dx)


class Dropout(Layer):
    """Inverted dropout: in training, zero each input with probability p and
    scale survivors by 1/(1-p); at inference, the identity."""

    needs_noise = True
    bound_attributes = ("noise",)

    def __init__(self, p=0.5):
        p = real("p", p, low=0, high=1, high_open=True)
        self.p = float(p)
        self.noise = None  # set by the model before each training forward

    def forward(self, ops, x, out, training):
        if training:
            ops.dropout_forward(x, self.noise, out, self.p)
        else:
            ops.activation_forward("identity", x, out)

    def backward(self, ops, x, out, dout, dx):
        ops.dropout_backward(self.noise, dout, dx, self.p)

    def get_config(self):
        return dict(p=self.p)


class DenseWithActivation(Layer):
    """A Dense followed by an activation layer, run as one fused kernel call."""

    def __init__(self, dense, activation):
        self.dense = dense
        self.activation = activation

    def forward(self, ops, x, out, training):
        d = self.dense
        ops.dense_forward(
            x,
            d.W,
            d.b,
            out,
            self.activation.kernel_name,
            self.activation.negative_slope,
        )

    def backward(self, ops, x, out, dout, dx):
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


def fuse(layers):
    """The execution stages of a layer list: Dense(no activation) + activation
    layer pairs become one fused stage."""
    stages, i = [], 0
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


LAYER_CLASSES = {
    cls.__name__: cls
    for cls in (Dense, ReLU, LeakyReLU, Sigmoid, Tanh, Softmax, Dropout)
}


def from_config(entry):
    """Rebuild a layer from ``{"class": name, "config": {...}}``; a ValueError
    names what is wrong with a malformed entry."""
    if not isinstance(entry, dict):
        raise ValueError(f"layer config: expected a dict, got {type(entry).__name__}")
    cls = LAYER_CLASSES.get(entry.get("class"))
    if cls is None:
        raise ValueError(f"unknown layer class {entry.get('class')!r} in model config")
    config = entry.get("config", {})
    if not isinstance(config, dict):
        raise ValueError(f"{cls.__name__} config: expected a dict, got {config!r}")
    try:
        return cls(**config)
    except TypeError as exc:  # an unknown or missing argument
        raise ValueError(f"{cls.__name__} config: {exc}") from None
