"""CPU target: Numba kernels with BLAS matrix products and serial epilogues.

Functions here take the same arguments as the public ``fastnn.kernels`` ones
but check nothing: callers (the public wrappers, or a model that validated its
buffers once) guarantee shapes, dtypes and contiguity.

Threading choice
----------------
Only BLAS runs threaded; every Numba loop here is serial (``PARALLEL = False``
in ``kernels/_config.py``). Measured on this project's 2-core machine (numba
0.68.1, scipy's OpenBLAS 0.3.30 with 2 pthreads), one 784-512-512-10 float32
training step at batch 128 built from ``np.dot`` products plus elementwise
kernels (``benchmarks/threading_check.py``):

====================================  =========
elementwise kernels                   step time
====================================  =========
serial, fused (what fastnn does)      2.76 ms
``prange``, default ``omp`` layer     63.7 ms
``prange``, ``workqueue`` layer       14.5 ms (serial 2.48 ms in that run)
====================================  =========

Numba's OpenMP pool and OpenBLAS's pthreads both spin-wait after their
parallel regions and fight for the two cores (OpenBLAS issues #3187, #5171);
the workqueue layer does not spin but costs tens of microseconds per launch.
An epilogue streams B*O values once while the product before it does B*I*O
multiply-adds, so a serial epilogue is a few percent of a layer. Earlier
measurements agree: under ``tbb`` or with ``OMP_WAIT_POLICY=PASSIVE`` a prange
ReLU after a 128x784 @ 784x512 product was no faster than serial (~300 us vs
~280 us), and ``OPENBLAS_NUM_THREADS=1`` halves GEMM speed. With MKL as the BLAS
(GNU OpenMP threads) the same holds: the SGD pass over the 670k parameters after
that step added 0.34 ms serial and 0.87 ms as a ``prange`` over two chunks
(batch 1024: 0.79 ms serial, 1.26 ms with ``prange``). Memory bandwidth is the
bound there, not the core count: alone, with no BLAS call around it, the same
two-chunk ``prange`` loop took 0.35 ms against 0.28 ms serial.
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
