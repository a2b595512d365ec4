"""fastnn: neural networks from scratch, fast.

    import fastnn as fnn
    model = fnn.Sequential([fnn.Dense(784, 512, activation="relu"), fnn.Dense(512, 10)])
    model.compile(optimizer=fnn.SGD(lr=0.05, momentum=0.9), loss="cross_entropy",
                  metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=10, batch_size=128, seed=0)

The hot loops live in ``fastnn.kernels`` (Numba, CPU and CUDA).
"""

__version__ = "0.1.0"


def _attach_source_kernels():
    """Make ``fastnn.kernels`` importable from a source checkout.

    The kernels live in the top-level ``kernels/`` folder and an install maps
    them to ``fastnn.kernels``; Python started in a clone's root finds the
    source ``fastnn/`` first (the current directory leads ``sys.path``), which
    has no ``kernels`` inside. Then load ``../kernels`` under that name.
    """
    import importlib.util
    import os
    import sys

    if "fastnn.kernels" in sys.modules or importlib.util.find_spec("fastnn.kernels"):
        return
    source = os.path.join(os.path.dirname(os.path.dirname(__file__)), "kernels")
    init = os.path.join(source, "__init__.py")
    if not os.path.isfile(init):
        raise ImportError(
            "fastnn.kernels is missing: this fastnn/ folder is neither installed "
            "nor inside a source checkout; install it with `pip install .` from "
            "the clone"
        )
    spec = importlib.util.spec_from_file_location(
        "fastnn.kernels", init, submodule_search_locations=[source]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["fastnn.kernels"] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules["fastnn.kernels"]
        raise


_attach_source_kernels()

from fastnn import datasets, kernels  # noqa: E402
from fastnn.callbacks import Callback, EarlyStopping, History  # noqa: E402
from fastnn.gradcheck import gradient_check  # noqa: E402
from fastnn.layers import Dense, Dropout, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh  # noqa: E402
from fastnn.losses import MSE, BinaryCrossEntropy, CrossEntropy  # noqa: E402
from fastnn.model import DivergenceError, Sequential  # noqa: E402
from fastnn.optimizers import SGD, Adam, AdamW  # noqa: E402
from fastnn.persistence import ModelFileError, load_model  # noqa: E402
from fastnn.schedules import Constant, CosineDecay, StepDecay  # noqa: E402

__all__ = [
    "Adam",
    "AdamW",
    "BinaryCrossEntropy",
    "Callback",
    "Constant",
    "CosineDecay",
    "CrossEntropy",
    "Dense",
    "DivergenceError",
    "Dropout",
    "EarlyStopping",
    "History",
    "LeakyReLU",
    "MSE",
    "ModelFileError",
    "ReLU",
    "SGD",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "StepDecay",
    "Tanh",
    "datasets",
    "gradient_check",
    "kernels",
    "load_model",
]
