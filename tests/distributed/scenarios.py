"""Training runs compared between one process and several MPI ranks: each
builds a fresh model and its data from fixed seeds, identically in every
process, and names the ``fit`` arguments."""

import numpy as np

import fastnn as fnn

N_ROWS = 203  # batch 32: six full batches and a short one of 11 rows


def _data(n=N_ROWS, features=12, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, features)), rng


def plain():
    """Cross-entropy, SGD with Nesterov momentum, float64, shuffled."""
    x, rng = _data()
    y = rng.integers(0, 3, len(x))
    model = fnn.Sequential(
        [fnn.Dense(12, 16, activation="relu"), fnn.Dense(16, 3)], dtype="float64"
    )
    model.compile(
        optimizer=fnn.SGD(lr=0.05, momentum=0.9, nesterov=True),
        loss="cross_entropy",
        metrics=["accuracy"],
    )
    return model, x, y, {"epochs": 3, "batch_size": 32, "seed": 1}


def weighted():
    """Sample and class weights with Adam and a cosine schedule."""
    x, rng = _data()
    y = rng.integers(0, 3, len(x))
    weights = rng.uniform(0.0, 2.0, len(x))
    model = fnn.Sequential(
        [fnn.Dense(12, 16, activation="tanh"), fnn.Dense(16, 3)], dtype="float64"
    )
    model.compile(
        optimizer=fnn.Adam(lr=0.01, schedule=fnn.CosineDecay(3)),
        loss="cross_entropy",
        metrics=["accuracy"],
    )
    fit = {
        "epochs": 3,
        "batch_size": 32,
        "seed": 2,
        "sample_weight": weights,
        "class_weight": {0: 1.0, 1: 3.0, 2: 0.5},
    }
    return model, x, y, fit


def dropout_mse():
    """Dropout (noise drawn for the whole batch) and MSE regression, AdamW."""
    x, rng = _data()
    y = np.stack([x[:, 0] - x[:, 1], x[:, 2] * 0.5], axis=1)
    model = fnn.Sequential(
        [
            fnn.Dense(12, 24, activation="relu"),
            fnn.Dropout(0.3),
            fnn.Dense(24, 2),
        ],
        dtype="float64",
    )
    model.compile(optimizer=fnn.AdamW(lr=0.01), loss="mse")
    return model, x, y, {"epochs": 2, "batch_size": 32, "seed": 3}


def lone_last_row():
    """A last batch of one row: one rank's share is empty."""
    x, rng = _data(n=97)
    y = (x[:, 0] > 0).astype(np.float64)
    model = fnn.Sequential(
        [fnn.Dense(12, 8, activation="sigmoid"), fnn.Dense(8, 1)], dtype="float64"
    )
    model.compile(
        optimizer=fnn.SGD(lr=0.1), loss="binary_cross_entropy", metrics=["accuracy"]
    )
    return model, x, y, {"epochs": 2, "batch_size": 16, "seed": 4}


def validated():
    """Validation data (split over the ranks) and early stopping, float32."""
    x, rng = _data(n=240)
    y = (x[:, :3].sum(axis=1) > 0).astype(np.int64)
    model = fnn.Sequential([fnn.Dense(12, 16, activation="relu"), fnn.Dense(16, 2)])
    model.compile(optimizer=fnn.SGD(lr=0.2), loss="cross_entropy", metrics=["accuracy"])
    fit = {
        "epochs": 6,
        "batch_size": 40,
        "seed": 5,
        "validation_data": (x[:50].astype(np.float32), y[:50]),
        "callbacks": [
            fnn.EarlyStopping(monitor="val_loss", min_delta=0.05, patience=0)
        ],
    }
    return model, x.astype(np.float32), y, fit


SCENARIOS = {
    f.__name__: f for f in (plain, weighted, dropout_mse, lone_last_row, validated)
}


def run_data_parallel(name, comm):
    """The scenario trained by DataParallel over ``comm``: (history, weights)."""
    from fastnn.distributed import DataParallel

    model, x, y, fit = SCENARIOS[name]()
    history = DataParallel(model, comm=comm, check_every=1).fit(x, y, verbose=0, **fit)
    return history, model.get_weights()


def run_one_process(name):
    """The scenario trained by ``model.fit`` in this process."""
    model, x, y, fit = SCENARIOS[name]()
    history = model.fit(x, y, verbose=0, **fit)
    return history, model.get_weights()
