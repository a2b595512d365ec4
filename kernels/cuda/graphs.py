"""CUDA graphs for sequences of fastnn kernel launches.

Each numba-cuda kernel launch costs tens of microseconds of host time; a
small network's training step is a dozen launches, so the GPU idles most of
the step. A CUDA graph records the launches once and replays them all with
one call. Capture goes through a CuPy stream (numba launches join it through
``cuda.external_stream``; cuBLAS calls through CuPy's current stream).

:class:`LaunchSequence` wraps a function that launches kernels (and nothing
else: no allocation, no host copy, no synchronisation): ``launch()`` replays
the captured graph, or, where capture is unavailable (the simulator, no CuPy,
``FASTNN_CUDA_GRAPHS=off``, or a capture that failed), calls the function,
launching the same kernels in the same order on the same stream. Both give
the same results; ``captured`` and ``reason`` say which runs.
"""

from .. import _config
from .._cuda_api import cuda_module
from ._launch import on_stream

cuda = cuda_module()


def _cupy():
    try:
        import cupy
    except ImportError:
        return None
    return cupy


def capture_unavailable_reason():
    """Why launches cannot be captured into CUDA graphs here, or None."""
    from numba import config

    if _config.CUDA_GRAPHS == "off":
        return "FASTNN_CUDA_GRAPHS=off"
    if getattr(config, "ENABLE_CUDASIM", False):
        return "the CUDA simulator has no graphs"
    if _cupy() is None:
        return "CuPy is not installed (pip install cupy-cuda13x or cupy-cuda12x)"
    return None


def pinned_array(shape, dtype):
    """A NumPy array in page-locked host memory (CuPy's allocator): copies
    from and to it can be recorded in a CUDA graph."""
    import cupy
    import numpy as np

    dtype = np.dtype(dtype)
    count = int(np.prod(shape))
    memory = cupy.cuda.alloc_pinned_memory(max(1, count * dtype.itemsize))
    return np.frombuffer(memory, dtype, count).reshape(shape)


def copy_async(dst, src, stream):
    """Copy ``src`` into ``dst`` (same size; one on the device, the other a
    :func:`pinned_array`) on ``stream``, recordable in a graph."""
    import cupy

    runtime = cupy.cuda.runtime
    if hasattr(src, "__cuda_array_interface__"):
        kind, dst_ptr = runtime.memcpyDeviceToHost, dst.ctypes.data
        src_ptr = src.__cuda_array_interface__["data"][0]
        nbytes = dst.nbytes
    else:
        kind, src_ptr = runtime.memcpyHostToDevice, src.ctypes.data
        dst_ptr = dst.__cuda_array_interface__["data"][0]
        nbytes = src.nbytes
    runtime.memcpyAsync(dst_ptr, src_ptr, nbytes, kind, stream.cupy.ptr)


class LaunchStream:
    """One CUDA stream as both CuPy and numba see it (the default stream
    when CuPy is absent). Non-blocking, as capture requires: work on the
    default stream is not ordered with it, so callers synchronise between
    the two (``synchronize`` and ``wait_default``)."""

    def __init__(self):
        cupy = _cupy()
        if cupy is None or capture_unavailable_reason() is not None:
            self.cupy, self.numba = None, 0
        else:
            self.cupy = cupy.cuda.Stream(non_blocking=True)
            self.numba = cuda.external_stream(self.cupy.ptr)
        self._default = cuda.default_stream()

    def launching(self):
        """Context: this thread's kernels launch on this stream."""
        return on_stream(self.numba, self.cupy)

    def synchronize(self):
        if self.cupy is not None:
            self.cupy.synchronize()
        else:
            self._default.synchronize()

    def wait_default(self):
        """Order this stream after the work already queued on the default
        stream (kernels and host copies): the host waits for it. Not a device
        synchronisation, which another thread's capture would refuse."""
        self._default.synchronize()


class LaunchSequence:
    """``fn``'s kernel launches, replayed as one CUDA graph when possible.

    ``fn`` must be deterministic in what it launches and take no arguments:
    every buffer it touches is fixed when it is captured. It is called once
    eagerly first (``warm_up``) so kernels compile and lazily created buffers
    exist before capture (an allocation cannot be captured); that call must
    be harmless (the training step runs it with its stop flag set).
    """

    def __init__(self, fn, stream, warm_up=True):
        self.fn = fn
        self.stream = stream
        self.graph = None
        self.reason = capture_unavailable_reason()
        if warm_up:
            with stream.launching():
                fn()
        if self.reason is None and stream.cupy is not None:
            self._capture()

    def _capture(self):
        stream = self.stream
        stream.synchronize()
        try:
            runtime = self._cupy_runtime()
            # thread-local: other threads may go on synchronising meanwhile
            mode = getattr(runtime, "streamCaptureModeThreadLocal", 1)
            with stream.launching():
                stream.cupy.begin_capture(mode)
                try:
                    self.fn()
                finally:
                    graph = stream.cupy.end_capture()
            self.graph = graph
        except Exception as exc:  # driver/library refused: run eagerly
            self.graph = None
            self.reason = f"capture failed: {type(exc).__name__}: {exc}"
            stream.synchronize()

    @staticmethod
    def _cupy_runtime():
        import cupy

        return cupy.cuda.runtime

    @property
    def captured(self):
        return self.graph is not None

    def launch(self):
        """Queue the launches once (asynchronous)."""
        if self.graph is not None:
            self.graph.launch(self.stream.cupy)
        else:
            with self.stream.launching():
                self.fn()
