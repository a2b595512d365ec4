"""Finding every CUDA kernel in ``fastnn.kernels.cuda``'s modules.

Every module of the package is imported (also those its ``__init__`` does
not import), and its attributes are searched for kernel dispatchers:
``cuda.jit`` objects that are not device functions, directly or as values of
a dict (``gemm._TILED`` keeps one kernel per dtype). A kernel counts only in
the module defining it, so one imported elsewhere is not found twice.
"""

import importlib
import pkgutil
from functools import lru_cache


def _nothing():
    pass


def kernel_name(module_name, attribute, key=None):
    """``<module>.<attribute>``, or ``<module>.<attribute>[<key>]`` for a dict entry."""
    name = f"{module_name}.{attribute}"
    return name if key is None else f"{name}[{key}]"


def _candidates(module_name, attribute, value):
    if isinstance(value, dict):
        for key, item in value.items():
            yield kernel_name(module_name, attribute, key), item
    else:
        yield kernel_name(module_name, attribute), value


@lru_cache(maxsize=1)
def find_kernels():
    """{name: dispatcher} of every kernel, named as in ``signatures.SIGNATURES``."""
    import fastnn.kernels.cuda as package
    from fastnn.kernels._cuda_api import cuda_module

    # the dispatcher class of whichever package compiles the kernels
    dispatcher_type = type(cuda_module().jit(_nothing))
    found, seen = {}, set()
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        for attribute, value in vars(module).items():
            for name, obj in _candidates(info.name, attribute, value):
                if (
                    isinstance(obj, dispatcher_type)
                    and not obj.targetoptions.get("device", False)
                    and obj.py_func.__module__ == module.__name__
                    and id(obj) not in seen
                ):
                    seen.add(id(obj))
                    found[name] = obj
    return found
