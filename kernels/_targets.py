"""Pick the implementation (CPU or CUDA) from where the arrays live."""

from . import cpu
from ._checks import on_device


def target_for(named_arrays):
    """The target module for ``[(name, array_or_None), ...]``.

    All arrays must live in one place: NumPy arrays go to the CPU kernels,
    CUDA device arrays to the CUDA kernels; a mix raises ``TypeError``.
    """
    host, device = [], []
    for name, a in named_arrays:
        if a is not None:
            (device if on_device(a) else host).append(name)
    if not device:
        return cpu
    if host:
        raise TypeError(
            "cannot mix host and device arrays in one call: "
            f"{', '.join(host)} on the host, {', '.join(device)} on the GPU"
        )
    from . import _cuda_target

    return _cuda_target.load()
