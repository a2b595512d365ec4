"""Export a built ``Sequential`` as a standard ONNX graph (``model.to_onnx``).

The graph is built from the model's own layers and weights with ``onnx.helper``
and checked with ``onnx.checker``:

- ``input_scale``: ``Mul`` of the input by the scale, in the model's dtype
  (as ``convert_rows`` scales each row before the first layer);
- ``Dense``: ``Gemm`` (W is stored (I, O), so no transpose), then its fused
  activation as a node of its own;
- ``ReLU``/``LeakyReLU``/``Sigmoid``/``Tanh``: ``Relu``/``LeakyRelu(alpha)``/
  ``Sigmoid``/``Tanh``; ``Softmax``: ``Softmax(axis=-1)``, row-wise;
- ``Dropout``: nothing (the identity at inference).

Tensors are named after layers (``layers.<i>.W`` as in ``model.parameters()``,
``layers.<i>.gemm``); the graph reads "input" (batch, I) and writes "output"
(batch, O) with a symbolic batch dimension, FLOAT for float32 models and
DOUBLE for float64.

Opset 17 (onnx 1.12, 2022): every operator used here has had its present
definition since opset 13 (Softmax became row-wise there, it had flattened
the trailing axes), and 17 is read by onnxruntime >= 1.12 and the common
inference runtimes. IR version 8 is the one that onnx release wrote for
opset 17; newer onnx packages default to a newer IR that older runtimes
refuse.
"""

import os

import numpy as np

from fastnn import _atomic_file
from fastnn.layers import Dense, Dropout, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh

OPSET = 17
IR_VERSION = 8

#: fastnn activation (kernel name) -> ONNX operator; identity adds no node.
_ACTIVATION_OPS = {
    "relu": "Relu",
    "leaky_relu": "LeakyRelu",
    "sigmoid": "Sigmoid",
    "tanh": "Tanh",
}
_ACTIVATION_LAYERS = (ReLU, LeakyReLU, Sigmoid, Tanh)
EXPORTED = ("Dense", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Softmax", "Dropout")


def require_onnx():
    """The ``onnx`` module, or an ImportError that says how to install it."""
    try:
        import onnx
    except ImportError as error:
        raise ImportError(
            'model.to_onnx needs onnx: install it with pip install ".[onnx]" '
            "from the fastnn clone"
        ) from error
    return onnx


def save(model, path):
    """Write ``model`` as an ONNX file at ``path`` (str or os.PathLike),
    atomically, as ``model.save`` writes its own files."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            f"path: expected a str or os.PathLike path, got {type(path).__name__}"
        )
    data = model_proto(model).SerializeToString()
    path = os.fsdecode(os.fspath(path))
    _atomic_file.write(path, data, _atomic_file.existing_mode(path))


def model_proto(model):
    """The checked ``onnx.ModelProto`` of a built model."""
    onnx = require_onnx()
    from onnx import helper, numpy_helper

    import fastnn

    if not model.built:
        # exporting would otherwise initialise random weights silently
        raise RuntimeError(
            "to_onnx: the model has no weights yet; train it (fit) or build(seed) "
            "it first"
        )
    graph = _Graph(helper, np.dtype(model.dtype))
    tensor = "input"
    if model.input_scale is not None:
        scale = graph.constant("input_scale", np.asarray(model.input_scale))
        tensor = graph.node("Mul", [tensor, scale], "input_scaled")
    params = model.parameters()
    for i, layer in enumerate(model.layers):
        tensor = _layer_nodes(graph, i, layer, tensor, params)
    graph.nodes[-1].output[0] = "output"  # the first layer is a Dense: never empty

    elem = helper.np_dtype_to_tensor_dtype(graph.dtype)
    proto = helper.make_model(
        helper.make_graph(
            graph.nodes,
            "fastnn.Sequential",
            [
                helper.make_tensor_value_info(
                    "input", elem, ["batch", model.in_features]
                )
            ],
            [
                helper.make_tensor_value_info(
                    "output", elem, ["batch", model.out_features]
                )
            ],
            initializer=[numpy_helper.from_array(a, n) for n, a in graph.constants],
        ),
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="fastnn",
        producer_version=fastnn.__version__,
        ir_version=IR_VERSION,
    )
    onnx.checker.check_model(proto, full_check=True)
    return proto


def _layer_nodes(graph, i, layer, tensor, params):
    """Append the nodes of ``model.layers[i]`` reading ``tensor``; return the
    name of their output."""
    # exact types: a subclass may compute something else under the same name
    kind = type(layer)
    if kind is Dense:
        weights = graph.constant(f"layers.{i}.W", params[f"layers.{i}.W"])
        bias = graph.constant(f"layers.{i}.b", params[f"layers.{i}.b"])
        tensor = graph.node("Gemm", [tensor, weights, bias], f"layers.{i}.gemm")
        activation = layer.activation or "identity"
        if activation == "identity":
            return tensor
        return _activation(graph, i, activation, layer.negative_slope, tensor)
    if kind in _ACTIVATION_LAYERS:
        return _activation(graph, i, layer.kernel_name, layer.negative_slope, tensor)
    if kind is Softmax:
        return graph.node("Softmax", [tensor], f"layers.{i}.softmax", axis=-1)
    if kind is Dropout:
        return tensor
    raise ValueError(
        f"to_onnx: layers[{i}] ({kind.__name__}) has no ONNX equivalent; "
        f"exported layers: {', '.join(EXPORTED)}"
    )


def _activation(graph, i, name, negative_slope, tensor):
    op = _ACTIVATION_OPS[name]
    attrs = {"alpha": float(negative_slope)} if op == "LeakyRelu" else {}
    return graph.node(op, [tensor], f"layers.{i}.{name}", **attrs)


class _Graph:
    """Nodes and constant tensors collected in order, in one dtype."""

    def __init__(self, helper, dtype):
        self.helper, self.dtype = helper, dtype
        self.nodes, self.constants = [], []

    def constant(self, name, array):
        self.constants.append((name, np.asarray(array, self.dtype)))
        return name

    def node(self, op, inputs, output, **attrs):
        """Append ``op`` writing the tensor ``output`` (also the node's name)."""
        self.nodes.append(
            self.helper.make_node(op, inputs, [output], name=output, **attrs)
        )
        return output
