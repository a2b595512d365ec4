"""fastnn.kernels: fused neural-network kernels for CPU (Numba) and CUDA.

A stable API other projects can call directly:

    import numpy as np
    from fastnn import kernels

    x = np.random.rand(128, 784).astype(np.float32)
    w = np.random.rand(784, 512).astype(np.float32)
    b = np.zeros(512, np.float32)
    out = np.empty((128, 512), np.float32)
    kernels.dense_forward(x, w, b, out, activation="relu")

Every function checks its arguments (``TypeError``/``ValueError`` naming the
argument), writes into caller-provided buffers, and runs on the CPU for NumPy
arrays or on the GPU for CUDA device arrays. ``fastnn.kernels.cpu`` (and
``fastnn.kernels.cuda``) hold the same functions without the checks.
Compiled kernels are cached on disk; see ``fastnn.kernels.cache_dir()``.
CPU matrix products run on Intel MKL or OpenBLAS, whichever measured faster
on this machine (MKL needs ``pip install ".[mkl]"`` from the clone);
``fastnn.kernels.cpu_blas()`` says which and ``cpu_blas_reason()`` why
(``FASTNN_CPU_BLAS=openblas|mkl`` forces one).
"""

from . import _cache
from ._api import (
    ACTIVATIONS,
    activation_backward,
    activation_forward,
    adam_update,
    binary_cross_entropy_with_logits,
    count_correct,
    count_correct_binary,
    dense_backward,
    dense_forward,
    dropout_backward,
    dropout_forward,
    log_softmax,
    mse,
    sgd_update,
    softmax,
    softmax_backward,
    softmax_cross_entropy,
)
from ._cpu_blas import cpu_blas, cpu_blas_reason
from ._cuda_target import unavailable_reason as cuda_unavailable_reason


def cache_dir():
    """Directory of the on-disk kernel cache (None when caching is off).

    Delete it to clear the cache; ``FASTNN_CACHE_DIR`` moves it and
    ``FASTNN_DISABLE_CACHE=1`` turns caching off.

    Returns
    -------
    pathlib.Path or None
        The folder compiled kernels are cached in now.
    """
    return _cache.active_cache_dir()


__all__ = [
    "ACTIVATIONS",
    "activation_backward",
    "activation_forward",
    "adam_update",
    "binary_cross_entropy_with_logits",
    "cache_dir",
    "count_correct",
    "count_correct_binary",
    "cpu_blas",
    "cpu_blas_reason",
    "cuda_unavailable_reason",
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
