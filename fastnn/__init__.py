"""fastnn: neural networks from scratch, fast.

    import fastnn as fnn
    model = fnn.Sequential([fnn.Dense(784, 512, activation="relu"), fnn.Dense(512, 10)])
    model.compile(optimizer=fnn.SGD(lr=0.05, momentum=0.9), loss="cross_entropy",
                  metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=10, batch_size=128, seed=0)

The hot loops live in ``fastnn.kernels`` (Numba, CPU and CUDA).
"""

__version__ = "0.1.0"

from fastnn import datasets, kernels
from fastnn.callbacks import EarlyStopping, History
from fastnn.gradcheck import gradient_check
from fastnn.layers import Dense, Dropout, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from fastnn.losses import MSE, BinaryCrossEntropy, CrossEntropy
from fastnn.model import DivergenceError, Sequential
from fastnn.optimizers import SGD, Adam, AdamW
from fastnn.persistence import load_model
from fastnn.schedules import Constant, CosineDecay, StepDecay

__all__ = [
    "Adam",
    "AdamW",
    "BinaryCrossEntropy",
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
