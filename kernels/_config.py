"""Numba options for every fastnn kernel, in one place.

Decorators in ``kernels/cpu`` and ``kernels/cuda`` take their flags from here and
nowhere else, so a flag change reaches every kernel and (through
``kernels/_cache.py``) invalidates every cached compilation at once: Numba's own
cache key ignores ``fastmath``/``parallel``, and loading a cache compiled with
other flags can crash.

Threading: CPU kernels are serial (``PARALLEL = False``); the measurement that
justifies it is in ``kernels/cpu/__init__.py``.
"""

import os

#: Cache compiled kernels on disk so a second process does not recompile.
#: ``FASTNN_DISABLE_CACHE=1`` turns it off (for example on a read-only system
#: where even the temporary directory is not writable).
CACHE = os.environ.get("FASTNN_DISABLE_CACHE", "") not in ("1", "true", "yes")

#: No fastmath: exp/log in losses and activations must keep their NaN/inf
#: behaviour, and the elementwise loops vectorise without it (measured).
FASTMATH = False

#: Serial CPU kernels; see the measurement in ``kernels/cpu/__init__.py``.
PARALLEL = False

#: BLAS for the CPU matrix products: ``auto`` takes the faster of Intel MKL
#: (when installed) and OpenBLAS, measured once per machine; ``mkl`` or
#: ``openblas`` force one. Resolved once, at import, by ``kernels/_cpu_blas.py``
#: (which gives the rule and why).
CPU_BLAS = os.environ.get("FASTNN_CPU_BLAS", "auto")

#: CUDA launch shape for the 1-D grid-stride kernels (read at each launch,
#: so tests may lower it to make tiny inputs span several blocks).
CUDA_THREADS_PER_BLOCK = 256

#: Tile edge of the shared-memory CUDA GEMM (TILE x TILE threads per block).
#: A compile-time constant of the kernel; ``FASTNN_CUDA_GEMM_TILE`` overrides
#: it at import (the simulator tests use 4 so small shapes span many tiles).
CUDA_GEMM_TILE = int(os.environ.get("FASTNN_CUDA_GEMM_TILE", "16"))

#: Matrix products through cuBLAS (via CuPy) when CuPy is importable; the
#: numba.cuda tiled GEMM otherwise. ``FASTNN_CUDA_GEMM=numba`` forces the latter.
CUDA_GEMM_BACKEND = os.environ.get("FASTNN_CUDA_GEMM", "auto")

#: Which Numba CUDA package compiles the kernels: ``auto`` prefers
#: ``numba-cuda-mlir`` (the maintained successor) when it is installed and the
#: simulator is off, else ``numba-cuda``; ``numba-cuda`` or ``numba-cuda-mlir``
#: force one. Resolved once, at first use, by ``kernels/_cuda_api.py``.
CUDA_PACKAGE = os.environ.get("FASTNN_CUDA_PACKAGE", "auto")

#: Capture the GPU training step and inference chunks as CUDA graphs (one
#: launch per step instead of one per kernel) when CuPy is installed:
#: ``auto`` (the default) or ``off``.
CUDA_GRAPHS = os.environ.get("FASTNN_CUDA_GRAPHS", "auto")


def flags_fingerprint():
    """The flags that change generated code, as a string for cache keys."""
    return f"fastmath={FASTMATH};parallel={PARALLEL}"
