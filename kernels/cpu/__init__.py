"""CPU target: Numba kernels with BLAS matrix products and serial epilogues.

Functions here take the same arguments as the public ``fastnn.kernels`` ones
but check nothing: callers (the public wrappers, or a model that validated its
buffers once) guarantee shapes, dtypes and contiguity.

Threading choice
----------------
Only BLAS runs threaded; every Numba loop here is serial (``PARALLEL = False``
in ``kernels/_config.py``). Measured on a 2-core machine (numba 0.68, OpenBLAS
from scipy): a 784-512-512-10 float32 training step at batch 128 built from
``np.dot`` plus ``prange`` elementwise kernels took ~62 ms, with serial
elementwise kernels ~1.3 ms: Numba's thread pool and OpenBLAS's pthreads both
spin-wait after their parallel regions and fight for the cores. Under the
default ``omp`` layer a 128x512 prange ReLU after a 128x784 @ 784x512 product
cost ~8,500 us per call against ~280 us serial; under ``tbb`` or with
``OMP_WAIT_POLICY=PASSIVE`` it was ~300 us, still no better than serial, and a
prange over 128x512 costs 35-70 us of launch under ``workqueue`` against
~2.4 us for the serial loop. An epilogue streams B*O values once while the
product before it does B*I*O multiply-adds, so serial epilogues cost a few
percent of a layer at most (see the benchmark in the closing measurements of
``benchmarks/``), and the serial choice is never worse than threading here.
"""

from . import activations, dense, dropout, losses, metrics, optim
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
