"""Load the CUDA kernels on first use, with a clear error when impossible."""

_module = None


def unavailable_reason():
    """Why the CUDA target cannot run here, or None when it can.

    Exported as ``fastnn.kernels.cuda_unavailable_reason``.

    Returns
    -------
    str or None
        The reason (no CUDA package, a driver error, no device), or None.
    """
    from . import _cuda_api

    try:
        cuda = _cuda_api.cuda_module()
    except ImportError as exc:
        return f"no Numba CUDA package is importable ({exc}); install the cuda extra"
    try:
        available = cuda.is_available()
    except Exception as exc:  # driver problems surface as various errors
        return f"the CUDA driver could not be loaded ({exc})"
    if not available:
        return (
            "no CUDA device found (no NVIDIA driver or GPU on this machine; "
            "install the extra with pip install '.[cuda]' from the fastnn clone on a GPU "
            "machine)"
        )
    return None


def load():
    """The ``fastnn.kernels.cuda`` module, imported once."""
    global _module
    if _module is None:
        reason = unavailable_reason()
        if reason is not None:
            raise RuntimeError(f"CUDA target unavailable: {reason}")
        from . import cuda

        _module = cuda
    return _module
