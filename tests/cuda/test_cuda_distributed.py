"""Data-parallel training of a model on the GPU (one rank in this process:
the gradient goes through the host staging buffer and MPI as it would
between GPU ranks), against the same run on the CPU."""

import numpy as np
import pytest

import fastnn as fnn

MPI = pytest.importorskip("mpi4py.MPI", reason="needs mpi4py (the mpi extra)")
from fastnn.distributed import DataParallel  # noqa: E402


def _model(device):
    model = fnn.Sequential(
        [fnn.Dense(6, 8, activation="relu"), fnn.Dropout(0.25), fnn.Dense(8, 3)],
        dtype="float64",
        device=device,
    )
    model.compile(
        optimizer=fnn.Adam(lr=0.01), loss="cross_entropy", metrics=["accuracy"]
    )
    return model


def test_gpu_rank_matches_the_cpu_run():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(45, 6)), rng.integers(0, 3, 45)
    weights = rng.uniform(0.5, 1.5, 45)
    fit = {"epochs": 2, "batch_size": 16, "seed": 3, "sample_weight": weights}
    gpu = _model("cuda")
    dp = DataParallel(gpu, comm=MPI.COMM_SELF, check_every=2)
    history = dp.fit(x, y, verbose=0, **fit)
    assert dp._reducer._host is not None  # staged through host memory
    cpu = _model("cpu")
    reference = cpu.fit(x, y, verbose=0, **fit)
    np.testing.assert_allclose(gpu.get_weights(), cpu.get_weights(), rtol=1e-10)
    np.testing.assert_allclose(history["loss"], reference["loss"], rtol=1e-10)
    assert dp.evaluate(x, y) == pytest.approx(cpu.evaluate(x, y), rel=1e-10)
