"""Seeded, deterministic inputs shared by the asv benchmarks.

Append only: changing an existing generator changes what old results mean.
"""

import os
from pathlib import Path

import numpy as np

#: Layer shapes (batch, in, out) for the dense benchmarks.
DENSE_SHAPES = [(128, 784, 512), (1024, 784, 512), (32, 32, 64)]
#: Network configs (layer sizes, batch) for the model benchmarks.
MODEL_CONFIGS = {
    "784-512-512-10/b128": ((784, 512, 512, 10), 128),
    "784-512-512-10/b1024": ((784, 512, 512, 10), 1024),
    "32-64-64-10/b32": ((32, 64, 64, 10), 32),
}


def rng(seed=0):
    return np.random.default_rng(seed)


def dense_inputs(batch, n_in, n_out, dtype=np.float32, seed=0):
    r = rng(seed)
    x = r.standard_normal((batch, n_in)).astype(dtype)
    w = (r.standard_normal((n_in, n_out)) / np.sqrt(n_in)).astype(dtype)
    b = r.standard_normal(n_out).astype(dtype)
    return x, w, b


def classification_batch(batch, n_in, n_classes, dtype=np.float32, seed=1):
    r = rng(seed)
    return r.random((batch, n_in), dtype=np.float64).astype(dtype), r.integers(
        0, n_classes, batch
    )


def mlp(sizes, seed=0, optimizer=None, dropout=None, **model_kwargs):
    """A ReLU MLP of layer widths ``sizes`` for cross-entropy, with
    ``Dropout(dropout)`` after each hidden layer when given."""
    import fastnn as fnn

    layers = []
    for i, o in zip(sizes[:-2], sizes[1:-1]):
        layers.append(fnn.Dense(i, o, activation="relu"))
        if dropout is not None:
            layers.append(fnn.Dropout(dropout))
    layers.append(fnn.Dense(sizes[-2], sizes[-1]))
    model = fnn.Sequential(layers, seed=seed, **model_kwargs)
    model.compile(
        optimizer=optimizer or fnn.SGD(lr=0.01, momentum=0.9),
        loss="cross_entropy",
        metrics=["accuracy"],
    )
    return model


def mnist_dir():
    """The MNIST directory, or None when the data are absent."""
    candidates = [
        os.environ.get("FASTNN_DATA_DIR"),
        Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist",
    ]
    for candidate in candidates:
        if candidate and (Path(candidate) / "train-images-idx3-ubyte.gz").exists():
            return str(candidate)
    return None
