"""PyTorch interoperability: models both ways, and a torch layer on fastnn's kernels.

    import fastnn.torch as fnt

    module = fnt.to_torch(model)      # a built Sequential -> torch.nn.Sequential
    model = fnt.from_torch(module)    # torch.nn.Sequential -> a built Sequential
    layer = fnt.Dense(784, 512, activation="relu")   # a torch.nn.Module whose
    # forward and backward are fastnn.kernels.dense_forward / dense_backward

Needs PyTorch (``pip install ".[torch]"`` from the fastnn clone); ``import
fastnn`` never imports it.

**Conversions.** ``Dense`` <-> ``nn.Linear`` (``weight = W.T``, ``bias = b``;
a Linear without bias becomes a Dense with a zero bias), its fused
``activation`` -> an activation module after the Linear (which
``from_torch`` brings back as a layer of its own, run fused all the same),
``ReLU``,
``LeakyReLU(negative_slope)``, ``Sigmoid``, ``Tanh``, ``Softmax`` (row-wise,
``nn.Softmax(dim=-1)``), ``Dropout(p)`` <-> their ``torch.nn`` namesakes, and
``input_scale`` <-> an ``InputScale`` module first. The dtype is kept
(float32 or float64); weights are copied bit for bit. ``from_torch`` maps
module i of the torch model to layer i of the fastnn model.

**Threads.** In one process, PyTorch's intra-op pool is GNU OpenMP
(``libgomp``, one thread per core) and fastnn's BLAS is MKL (on its own
OpenMP, or on torch's ``libgomp`` when torch was imported first) or
OpenBLAS. ``benchmarks/torch_interop.py`` times a training step of the
784-512-512-10 float32 network (batch 128, SGD with momentum) with
``nn.Linear`` layers, with ``fastnn.torch.Dense`` layers, and as fastnn's own
``train_on_batch``, in one process per thread setting. Medians in ms per
step on a 2-core Intel Xeon, MKL for fastnn, torch 2.13.0 (CPU build): one
run while the machine was otherwise idle (load average 0.8-1.0), and the
range of the medians of five runs while other programs kept it busy (load
average 1.3-5.5; PASSIVE and fastnn alone in four of them, torch alone in
three):

==========================  ======  =======  ======  ========  ========  ========
setting                     idle:   idle:    idle:   busy:     busy:     busy:
                            Linear  fnt.D    fastnn  Linear    fnt.D     fastnn
==========================  ======  =======  ======  ========  ========  ========
defaults, torch first       2.85    3.27     2.06    11-148    5.5-128   4.1-58
torch.set_num_threads(1)    4.27    4.76     3.06    4.5-10.7  5.1-11.0  3.1-7.4
OMP_WAIT_POLICY=PASSIVE     5.11    5.30     3.04    5.3-5.7   5.7-6.7   3.3-3.9
fastnn alone, torch alone   2.71    -        2.10    2.9-145   -         2.2-10.0
==========================  ======  =======  ======  ========  ========  ========

On an idle machine the two pools do not fight: with the defaults every step
is as fast as in a process of its own (and fnt.Dense layers take 15% longer
than nn.Linear). On a busy one, steps whose OpenMP threads spin while they
wait (two per pool) collapse, nn.Linear's by up to 50 times, and torch
collapses as much with no fastnn in the process (145 ms); limiting only the
BLAS with threadpoolctl does not touch torch's pool (up to 84 ms for
nn.Linear).
What to do: on a dedicated machine keep the defaults; where other programs
share the cores, call ``torch.set_num_threads(1)`` (with torch imported
first it sets MKL's threads too, which then share torch's OpenMP), or start
Python with ``OMP_WAIT_POLICY=PASSIVE`` (threads sleep instead of spinning),
which gave the steadiest times here, 1.5-1.8 times the idle ones.
"""

import math

import numpy as np

try:
    import torch
    from torch import nn
except ImportError as error:  # torch is an optional dependency
    raise ImportError(
        'fastnn.torch needs PyTorch: install the extra with pip install ".[torch]" '
        "from the fastnn clone (fastnn[torch])"
    ) from error

from fastnn import kernels
from fastnn import layers as fl
from fastnn.model import Sequential

__all__ = ["Dense", "InputScale", "from_torch", "to_torch"]

_DTYPES = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}

#: fastnn activation (kernel name) -> the torch module class after a Linear
_TORCH_ACTIVATIONS = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
}
#: fastnn activation layer class -> torch module class, exact types both ways
_ACTIVATION_LAYERS = {
    fl.ReLU: nn.ReLU,
    fl.LeakyReLU: nn.LeakyReLU,
    fl.Sigmoid: nn.Sigmoid,
    fl.Tanh: nn.Tanh,
}
_FROM_TORCH = {torch_cls: ours for ours, torch_cls in _ACTIVATION_LAYERS.items()}


class InputScale(nn.Module):
    """``x * scale``: a fastnn model's ``input_scale`` in a torch model.

    The factor is a buffer in the model's dtype, as fastnn converts the input
    to its dtype and multiplies by the scale in that dtype; ``scale`` keeps
    the exact number for ``from_torch``.
    """

    def __init__(self, scale, dtype=None):
        super().__init__()
        self.scale = float(scale)
        self.register_buffer("factor", torch.tensor(self.scale, dtype=dtype))

    def forward(self, x):
        return x * self.factor

    def extra_repr(self):
        return f"scale={self.scale!r}"


# ----------------------------------------------------------- fastnn -> torch
def to_torch(model, fastnn_kernels=False):
    """The torch module computing what ``model.predict`` computes.

    Parameters
    ----------
    model : fastnn.Sequential
        A built model (trained, or ``build(seed)``) of built-in layers.
    fastnn_kernels : bool, default False
        False: ``nn.Linear`` and the activation module of a fused
        ``activation``. True: one ``fastnn.torch.Dense`` per Dense, with the
        activation fused in (it runs fastnn's kernels).

    Returns
    -------
    torch.nn.Sequential
        On the CPU, in the model's dtype, in training mode as any new torch
        module (call ``.eval()`` for inference: only Dropout differs).

    Raises
    ------
    RuntimeError
        For a model without weights yet.
    ValueError
        For a layer that is not one of fastnn's own (a subclass included).
    """
    if not isinstance(model, Sequential):
        raise TypeError(
            f"model: expected a fastnn.Sequential, got {type(model).__name__}"
        )
    if not model.built:
        # converting would otherwise initialise random weights silently
        raise RuntimeError(
            "to_torch: the model has no weights yet; train it (fit) or build(seed) "
            "it first"
        )
    dtype = _DTYPES[np.dtype(model.dtype)]
    params = model.parameters()
    modules = []
    if model.input_scale is not None:
        modules.append(InputScale(model.input_scale, dtype))
    for i, layer in enumerate(model.layers):
        # exact types: a subclass may compute something else under the same name
        kind = type(layer)
        if kind is fl.Dense:
            W, b = params[f"layers.{i}.W"], params[f"layers.{i}.b"]
            activation = layer.activation or "identity"
            if fastnn_kernels:
                dense = Dense(
                    layer.in_features,
                    layer.out_features,
                    activation,
                    negative_slope=layer.negative_slope,
                    dtype=dtype,
                )
                with torch.no_grad():
                    dense.W.copy_(torch.from_numpy(W))
                    dense.b.copy_(torch.from_numpy(b))
                modules.append(dense)
                continue
            linear = nn.Linear(layer.in_features, layer.out_features, dtype=dtype)
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(W.T))
                linear.bias.copy_(torch.from_numpy(b))
            modules.append(linear)
            if activation != "identity":
                modules.append(_activation(activation, layer.negative_slope))
        elif kind in _ACTIVATION_LAYERS:
            modules.append(_activation(layer.kernel_name, layer.negative_slope))
        elif kind is fl.Softmax:
            modules.append(nn.Softmax(dim=-1))
        elif kind is fl.Dropout:
            modules.append(nn.Dropout(layer.p))
        else:
            raise ValueError(
                f"to_torch: layers[{i}] is a {kind.__name__}, which has no torch "
                "equivalent here; supported: Dense, ReLU, LeakyReLU, Sigmoid, Tanh, "
                "Softmax, Dropout"
            )
    return nn.Sequential(*modules)


def _activation(name, negative_slope):
    if name == "leaky_relu":
        return nn.LeakyReLU(negative_slope)
    return _TORCH_ACTIVATIONS[name]()


# ----------------------------------------------------------- torch -> fastnn
def from_torch(module, **options):
    """A built fastnn ``Sequential`` with the weights of a torch model.

    Parameters
    ----------
    module : torch.nn.Sequential
        Of ``nn.Linear``, ``nn.ReLU``, ``nn.LeakyReLU``, ``nn.Sigmoid``,
        ``nn.Tanh``, ``nn.Softmax(dim=-1 or 1)``, ``nn.Dropout`` and
        ``fastnn.torch.Dense`` modules, optionally led by an ``InputScale``;
        the first layer after it is a Linear (or fastnn.torch.Dense).
    **options
        Keyword arguments of ``Sequential`` (``dtype``, ``device``,
        ``input_scale``). ``dtype`` defaults to the torch parameters' dtype
        (float32 or float64); another one converts the weights.

    Returns
    -------
    fastnn.Sequential
        Layer i is the fastnn counterpart of module i (an InputScale, if any,
        becomes ``input_scale`` and takes no layer).

    Raises
    ------
    TypeError
        For a module that is not an ``nn.Sequential``, or parameters that are
        not all float32 or all float64.
    ValueError
        For any other module, naming it and its position.
    """
    if not isinstance(module, nn.Sequential):
        raise TypeError(
            f"module: expected a torch.nn.Sequential, got {type(module).__name__}"
        )
    children = list(module)
    if children and type(children[0]) is InputScale:
        if options.get("input_scale") is not None:
            raise ValueError(
                "input_scale: given both as an option and as the module's "
                "InputScale (module[0])"
            )
        options["input_scale"] = children[0].scale
        start = 1
    else:
        start = 0
    layers, weights, dtypes = [], [], set()
    for i, child in enumerate(children[start:], start):
        layer, arrays = _layer_from_torch(i, child)
        layers.append(layer)
        weights.extend(arrays)
        dtypes.update(a.dtype for a in arrays)
    if not layers or type(layers[0]) is not fl.Dense:
        raise ValueError(
            f"module[{start}]: the first layer must be a Linear (it fixes the "
            f"input width), got "
            f"{type(children[start]).__name__ if layers else 'nothing'}"
        )
    if len(dtypes) != 1 or next(iter(dtypes)) not in _DTYPES:
        shown = ", ".join(sorted(str(d) for d in dtypes))
        raise TypeError(
            "module: expected parameters all float32 or all float64, got " + shown
        )
    options.setdefault("dtype", next(iter(dtypes)))
    model = Sequential(layers, **options)
    model.set_weights(np.concatenate([a.reshape(-1) for a in weights]))
    return model


def _layer_from_torch(i, child):
    """(fastnn layer, [its parameters as host arrays]) for module ``i``."""
    kind = type(child)
    if kind is nn.Linear:
        W = _host(child.weight).T
        b = (
            _host(child.bias)
            if child.bias is not None
            else np.zeros(child.out_features, W.dtype)
        )
        return fl.Dense(child.in_features, child.out_features), [W, b]
    if kind is Dense:
        layer = fl.Dense(
            child.in_features,
            child.out_features,
            activation=None if child.activation == "identity" else child.activation,
            negative_slope=child.negative_slope,
        )
        W = _host(child.W)
        b = _host(child.b) if child.b is not None else np.zeros(child.out_features)
        return layer, [W, b.astype(W.dtype, copy=False)]
    if kind in _FROM_TORCH:
        if kind is nn.LeakyReLU:
            try:
                return fl.LeakyReLU(child.negative_slope), []
            except ValueError as error:
                raise ValueError(f"module[{i}] (LeakyReLU): {error}") from None
        return _FROM_TORCH[kind](), []
    if kind is nn.Softmax and child.dim in (-1, 1):
        return fl.Softmax(), []
    if kind is nn.Dropout:
        return fl.Dropout(child.p), []
    why = (
        f"Softmax(dim={child.dim}) is not row-wise; fastnn's Softmax is dim=-1"
        if kind is nn.Softmax
        else "supported: Linear, ReLU, LeakyReLU, Sigmoid, Tanh, Softmax(dim=-1), "
        "Dropout, fastnn.torch.Dense, and an InputScale first"
    )
    raise ValueError(f"module[{i}] ({kind.__name__}) has no fastnn layer: {why}")


def _host(tensor):
    if tensor.dtype not in (torch.float32, torch.float64):
        # checked here: bfloat16 has no NumPy dtype to report later
        dtype = str(tensor.dtype).removeprefix("torch.")
        raise TypeError(
            f"module: expected parameters all float32 or all float64, got {dtype}"
        )
    return tensor.detach().cpu().numpy()


# --------------------------------------------------- a torch layer on fastnn
class _DenseFunction(torch.autograd.Function):
    """out = act(x @ W + b) with fastnn's kernels on CPU tensors.

    x (B, I), W (I, O), b (O,) or None, out (B, O); all C-contiguous, one
    float dtype. Tensors reach the kernels as NumPy views of their memory
    (``Tensor.numpy()``), so nothing is copied but ``grad_out``, which
    ``dense_backward`` overwrites and torch may still use.
    """

    @staticmethod
    def forward(ctx, x, W, b, activation, negative_slope):
        out = torch.empty((x.shape[0], W.shape[1]), dtype=x.dtype)
        kernels.dense_forward(
            x.detach().numpy(),
            W.detach().numpy(),
            None if b is None else b.detach().numpy(),
            out.numpy(),
            activation,
            negative_slope,
        )
        # the backward reads act' from the output, as fastnn's layers do
        ctx.save_for_backward(x, W, out)
        ctx.activation, ctx.negative_slope = activation, negative_slope
        ctx.has_bias = b is not None
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        x, W, out = ctx.saved_tensors
        need_x, need_W, need_b = ctx.needs_input_grad[:3]
        dz = torch.empty_like(out)
        dz.copy_(grad_out)  # any strides (an expanded grad too) into a C buffer
        dx = torch.empty_like(x) if need_x else None
        dW = torch.empty_like(W) if need_W else None
        db = torch.empty(W.shape[1], dtype=W.dtype) if need_b else None
        kernels.dense_backward(
            x.detach().numpy(),
            W.detach().numpy(),
            out.detach().numpy(),
            dz.numpy(),
            None if dx is None else dx.numpy(),
            None if dW is None else dW.numpy(),
            None if db is None else db.numpy(),
            ctx.activation,
            ctx.negative_slope,
        )
        return dx, dW, db, None, None


class Dense(nn.Module):
    """A fully connected torch layer, ``act(x @ W + b)``, on fastnn's kernels.

    Forward and backward are ``fastnn.kernels.dense_forward`` and
    ``dense_backward`` on CPU tensors (float32 or float64), wrapped in a
    ``torch.autograd.Function``: it trains inside a torch model with torch's
    optimizers and losses. ``W`` is stored (I, O) as in fastnn, the transpose
    of ``nn.Linear.weight`` (named differently so that a Linear's state_dict
    never loads into it silently); ``from_linear`` copies a Linear.

    Parameters
    ----------
    in_features, out_features : int
        ``I`` and ``O``.
    activation : str, optional
        None (linear) or one of ``fastnn.kernels.ACTIVATIONS`` (identity, relu,
        leaky_relu, sigmoid, tanh), fused into the same kernel call.
    bias : bool, default True
        Whether the layer has a bias ``b`` (O,).
    negative_slope : float, default 0.01
        leaky_relu's slope for negative inputs (>= 0).
    dtype : torch.float32 or torch.float64, optional
        Default: ``torch.get_default_dtype()``.

    Notes
    -----
    The initial values are ``nn.Linear``'s: W and b uniform in
    [-1/sqrt(I), 1/sqrt(I)], from torch's random generator.

    Input (*, I): any leading dimensions, as for ``nn.Linear``; a
    non-contiguous input is copied once. Output (*, O). Other devices than
    the CPU, other dtypes and other widths raise ``ValueError`` /
    ``TypeError`` naming the argument.
    """

    def __init__(
        self,
        in_features,
        out_features,
        activation=None,
        bias=True,
        negative_slope=0.01,
        dtype=None,
    ):
        super().__init__()
        for name, value in (
            ("in_features", in_features),
            ("out_features", out_features),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected a positive int, got {value!r}")
        activation = "identity" if activation is None else activation
        if activation not in kernels.ACTIVATIONS:
            raise ValueError(
                f"activation: unknown {activation!r}; expected None or one of "
                f"{kernels.ACTIVATIONS}"
            )
        dtype = torch.get_default_dtype() if dtype is None else dtype
        if dtype not in (torch.float32, torch.float64):
            raise TypeError(
                f"dtype: expected torch.float32 or torch.float64, got {dtype}"
            )
        if not (negative_slope >= 0 and math.isfinite(negative_slope)):
            raise ValueError(
                f"negative_slope: expected a finite number >= 0, got {negative_slope!r}"
            )
        self.in_features, self.out_features = in_features, out_features
        self.activation = activation
        self.negative_slope = float(negative_slope)
        self.W = nn.Parameter(torch.empty((in_features, out_features), dtype=dtype))
        self.b = nn.Parameter(torch.empty(out_features, dtype=dtype)) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        """Uniform in [-1/sqrt(I), 1/sqrt(I)], as ``nn.Linear`` initialises."""
        bound = 1 / math.sqrt(self.in_features)
        with torch.no_grad():
            self.W.uniform_(-bound, bound)
            if self.b is not None:
                self.b.uniform_(-bound, bound)

    @classmethod
    def from_linear(cls, linear, activation=None, negative_slope=0.01):
        """A Dense with a copy of ``linear``'s weights (W = weight.T), then
        ``activation``."""
        dense = cls(
            linear.in_features,
            linear.out_features,
            activation,
            bias=linear.bias is not None,
            negative_slope=negative_slope,
            dtype=linear.weight.dtype,
        )
        with torch.no_grad():
            dense.W.copy_(linear.weight.T)
            if linear.bias is not None:
                dense.b.copy_(linear.bias)
        return dense

    def forward(self, x):
        self._check(x)
        rows = x.reshape(-1, self.in_features)
        if not rows.is_contiguous():
            rows = rows.contiguous()
        out = _DenseFunction.apply(
            rows, self.W, self.b, self.activation, self.negative_slope
        )
        return out.reshape(*x.shape[:-1], self.out_features)

    def _check(self, x):
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x: expected a torch.Tensor, got {type(x).__name__}")
        for name, tensor in (("x", x), ("W", self.W)):
            if tensor.device.type != "cpu":
                raise ValueError(
                    f"{name}: on {tensor.device}; fastnn.torch.Dense runs fastnn's "
                    "CPU kernels and needs CPU tensors (use nn.Linear on a GPU)"
                )
        if x.dtype != self.W.dtype:
            raise TypeError(
                f"x: dtype {x.dtype} does not match the layer's {self.W.dtype} "
                "(convert one with .to(dtype))"
            )
        if self.W.dtype not in (torch.float32, torch.float64):
            raise TypeError(
                f"W: dtype {self.W.dtype}; fastnn's kernels take float32 or float64"
            )
        if x.dim() < 1 or x.shape[-1] != self.in_features:
            raise ValueError(
                f"x: expected shape (*, {self.in_features}), got {tuple(x.shape)}"
            )

    def extra_repr(self):
        text = f"in_features={self.in_features}, out_features={self.out_features}"
        if self.activation != "identity":
            text += f", activation={self.activation!r}"
        if self.activation == "leaky_relu":
            text += f", negative_slope={self.negative_slope}"
        if self.b is None:
            text += ", bias=False"
        return text
