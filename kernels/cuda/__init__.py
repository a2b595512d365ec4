"""CUDA target: numba.cuda kernels with the same functions, signatures and
semantics as ``fastnn.kernels.cpu`` (no argument checks here either).

Arrays are device arrays: Numba's, or anything exposing
``__cuda_array_interface__`` (CuPy, PyTorch), used zero-copy. Matrix products
go through cuBLAS (CuPy) when installed, else a tiled shared-memory GEMM.
Every elementwise kernel is a grid-stride loop, so any launch shape is correct.
"""

from . import (  # noqa: F401 - submodules
    activations,
    dense,
    dropout,
    gather,
    gemm,
    losses,
    metrics,
    optim,
)
from .activations import (
    activation_backward,
    activation_forward,
    log_softmax,
    softmax,
    softmax_backward,
)
from .dense import dense_backward, dense_forward
from .dropout import dropout_backward, dropout_forward
from .losses import binary_cross_entropy_with_logits, mse, softmax_cross_entropy
from .metrics import count_correct, count_correct_binary
from .optim import adam_update, sgd_update

__all__ = [
    "activation_backward",
    "activation_forward",
    "adam_update",
    "binary_cross_entropy_with_logits",
    "count_correct",
    "count_correct_binary",
    "dense_backward",
    "dense_forward",
    "dropout_backward",
    "dropout_forward",
    "log_softmax",
    "mse",
    "sgd_update",
    "softmax",
    "softmax_backward",
    "softmax_cross_entropy",
]
