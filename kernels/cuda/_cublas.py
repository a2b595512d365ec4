"""cuBLAS GEMM called directly (ctypes), capturable into CUDA graphs.

CuPy refuses every cuBLAS call while a stream is being captured ("calling
cuBLAS API during stream capture is currently unsupported"), though cuBLAS
itself supports capture. So fastnn calls ``cublasSgemm_v2``/``cublasDgemm_v2``
from the library CuPy loaded, on a handle of its own per thread (created
outside any capture) with a workspace of its own, as cuBLAS asks of graph
capture (it must not allocate while capturing). The same call runs eagerly
and inside a capture, so both give the same bits.

Row-major arrays are column-major transposes, so c = op(a) @ op(b) is
computed as c.T = op(b).T @ op(a).T.
"""

import ctypes
import threading

import numpy as np

OP_N, OP_T = 0, 1
WORKSPACE_BYTES = 32 << 20

_local = threading.local()
_library = None
_ONE = {np.dtype(t): np.ones(1, t) for t in (np.float32, np.float64)}
_ZERO = {np.dtype(t): np.zeros(1, t) for t in (np.float32, np.float64)}


def _pointer(array):
    return array.__cuda_array_interface__["data"][0]


def _load():
    """libcublas as CuPy loaded it (by soname), with typed entry points."""
    global _library
    if _library is None:
        import cupy

        cupy.cuda.device.get_cublas_handle()  # makes CuPy load the library
        major = cupy.cuda.runtime.runtimeGetVersion() // 1000
        lib = None
        for name in (f"libcublas.so.{major}", "libcublas.so"):
            try:
                lib = ctypes.CDLL(name)
                break
            except OSError:
                continue
        if lib is None:
            lib = ctypes.CDLL(_wheel_library(major))
        p, i = ctypes.c_void_p, ctypes.c_int
        lib.cublasCreate_v2.argtypes = [ctypes.POINTER(p)]
        lib.cublasSetStream_v2.argtypes = [p, p]
        lib.cublasSetWorkspace_v2.argtypes = [p, p, ctypes.c_size_t]
        for routine in (lib.cublasSgemm_v2, lib.cublasDgemm_v2):
            routine.argtypes = [p, i, i, i, i, i, p, p, i, p, i, p, p, i]
        _library = lib
    return _library


def _wheel_library(major):
    """The path of libcublas in NVIDIA's pip wheel (nvidia-cublas)."""
    import importlib
    from pathlib import Path

    for module in ("nvidia.cublas", "nvidia.cu13", "nvidia"):
        try:
            root = Path(importlib.import_module(module).__path__[0])
        except ImportError:
            continue
        for found in root.rglob(f"libcublas.so.{major}*"):
            return str(found)
    raise OSError(f"libcublas.so.{major} not found")


def _check(status, what):
    if status != 0:
        raise RuntimeError(f"cuBLAS {what} failed with status {status}")


def _handle():
    """(library, handle) for this thread, created outside any capture."""
    state = getattr(_local, "state", None)
    if state is None:
        import cupy

        lib = _load()
        handle = ctypes.c_void_p()
        _check(lib.cublasCreate_v2(ctypes.byref(handle)), "create")
        workspace = cupy.empty(WORKSPACE_BYTES, np.uint8)
        _check(
            lib.cublasSetWorkspace_v2(handle, workspace.data.ptr, WORKSPACE_BYTES),
            "set workspace",
        )
        state = _local.state = (lib, handle, workspace)
    return state[0], state[1]


def gemm(a, b, c, trans_a, trans_b, stream_ptr):
    """c (M, N) = op(a) @ op(b) on the stream ``stream_ptr``; C-contiguous
    2-D float32 or float64 arrays of one dtype (no checks)."""
    lib, handle = _handle()
    m, n = c.shape
    k = a.shape[0] if trans_a else a.shape[1]
    dtype = np.dtype(c.dtype)
    routine = lib.cublasSgemm_v2 if dtype == np.float32 else lib.cublasDgemm_v2
    _check(lib.cublasSetStream_v2(handle, stream_ptr or None), "set stream")
    status = routine(
        handle,
        OP_T if trans_b else OP_N,
        OP_T if trans_a else OP_N,
        n,
        m,
        k,
        _ONE[dtype].ctypes.data,
        _pointer(b),
        b.shape[1],
        _pointer(a),
        a.shape[1],
        _ZERO[dtype].ctypes.data,
        _pointer(c),
        n,
    )
    _check(status, "gemm")
