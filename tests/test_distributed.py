"""Data-parallel training over MPI (fastnn.distributed).

The ranks run under ``mpiexec -n 2`` (the mpich wheel of the test extras) in
subprocesses; their results are compared with ``model.fit`` in this process,
which the data-parallel run must equal up to the order of float sums (float64
models, so the tolerance is tight).
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fastnn as fnn
from tests.distributed import scenarios

MPI = pytest.importorskip("mpi4py.MPI", reason="needs mpi4py (the mpi extra)")
from fastnn.distributed import DataParallel  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RUNNER = ROOT / "tests" / "distributed" / "run.py"
MPIEXEC = shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or shutil.which(
    "mpiexec"
)
needs_mpiexec = pytest.mark.skipif(MPIEXEC is None, reason="no mpiexec on PATH")
# one BLAS thread per rank: two ranks share this machine's cores
RANK_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def mpiexec(ranks, *args, timeout=300):
    return subprocess.run(
        [MPIEXEC, "-n", str(ranks), sys.executable, str(RUNNER), *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, **RANK_ENV},
        timeout=timeout,
        cwd=ROOT,
    )


def assert_same_run(saved, history, weights, rtol):
    np.testing.assert_allclose(saved["weights"], weights, rtol=rtol, atol=rtol)
    for key, values in history.history.items():
        if key in ("time_s", "allreduce_s"):
            continue
        np.testing.assert_allclose(saved[f"history_{key}"], values, rtol=rtol, atol=0)


@pytest.fixture(scope="module")
def two_rank_runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("two_ranks")
    proc = mpiexec(2, out, "scenarios")
    assert proc.returncode == 0, proc.stderr
    return out


@needs_mpiexec
@pytest.mark.parametrize("name", list(scenarios.SCENARIOS))
def test_two_ranks_follow_one_process(two_rank_runs, name):
    saved = np.load(two_rank_runs / f"{name}.npz")
    history, weights = scenarios.run_one_process(name)
    model = scenarios.SCENARIOS[name]()[0]
    rtol = 1e-12 if model.dtype == np.float64 else 2e-5
    assert len(saved["history_loss"]) == len(history.epoch)
    assert_same_run(saved, history, weights, rtol)


@needs_mpiexec
def test_early_stopping_stops_all_ranks_at_the_same_epoch(two_rank_runs):
    saved = np.load(two_rank_runs / "validated.npz")
    epochs = scenarios.validated()[3]["epochs"]
    assert 1 < len(saved["history_loss"]) < epochs


@needs_mpiexec
@pytest.mark.parametrize("name", list(scenarios.SCENARIOS))
def test_the_same_seed_repeats_exactly(two_rank_runs, name):
    first = np.load(two_rank_runs / f"{name}.npz")
    again = np.load(two_rank_runs / f"{name}_again.npz")
    np.testing.assert_array_equal(first["weights"], again["weights"])
    np.testing.assert_array_equal(first["history_loss"], again["history_loss"])


@needs_mpiexec
def test_a_failing_rank_aborts_the_job_with_its_reason(tmp_path):
    proc = mpiexec(2, tmp_path, "fail", timeout=120)
    assert proc.returncode != 0
    assert "rank 1 of 2 failed (OSError: disk full" in proc.stderr
    assert "aborting all 2 ranks" in proc.stderr
    assert "finished, which it must not" not in proc.stdout


@needs_mpiexec
def test_a_killed_rank_ends_the_job(tmp_path):
    proc = mpiexec(2, tmp_path, "killed", timeout=120)
    assert proc.returncode != 0
    assert "finished, which it must not" not in proc.stdout


@needs_mpiexec
def test_ranks_with_different_arguments_all_refuse(tmp_path):
    proc = mpiexec(2, tmp_path, "mismatch", timeout=120)
    assert proc.returncode == 0, proc.stderr
    for rank in (0, 1):
        assert (
            f"rank {rank}: ValueError: data-parallel ranks disagree on batch_size"
            in (proc.stdout)
        )


@needs_mpiexec
def test_a_checkpoint_resumes_on_another_number_of_ranks(tmp_path):
    # two epochs in one process, saved; the third on two ranks
    model, x, y, fit = scenarios.plain()
    model.fit(x, y, verbose=0, **{**fit, "epochs": 2})
    checkpoint = tmp_path / "two_epochs.safetensors"
    model.save(checkpoint)
    proc = mpiexec(2, tmp_path, "resume", checkpoint, 1)
    assert proc.returncode == 0, proc.stderr
    saved = np.load(tmp_path / "resumed.npz")
    reference, x, y, fit = scenarios.plain()
    history = reference.fit(x, y, verbose=0, **fit)  # three epochs at once
    np.testing.assert_allclose(saved["weights"], reference.get_weights(), rtol=1e-12)
    np.testing.assert_allclose(saved["history_loss"], history["loss"][2:], rtol=1e-12)

    # and the two-rank checkpoint goes on in one process
    resumed = fnn.load_model(tmp_path / "resumed.safetensors")
    assert resumed.epochs_trained == 3
    more = DataParallel(resumed, comm=MPI.COMM_SELF).fit(
        x, y, verbose=0, **{**fit, "epochs": 1}
    )
    reference.fit(x, y, verbose=0, **{**fit, "epochs": 1})
    np.testing.assert_allclose(
        resumed.get_weights(), reference.get_weights(), rtol=1e-12
    )
    assert more.epoch == [3]


# ------------------------------------------------ one rank, in this process
@pytest.mark.parametrize("name", list(scenarios.SCENARIOS))
def test_one_rank_equals_fit(name):
    history, weights = scenarios.run_data_parallel(name, MPI.COMM_SELF)
    reference, reference_weights = scenarios.run_one_process(name)
    model = scenarios.SCENARIOS[name]()[0]
    rtol = 1e-12 if model.dtype == np.float64 else 2e-5
    np.testing.assert_allclose(weights, reference_weights, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(history["loss"], reference["loss"], rtol=rtol)
    assert history.epoch == reference.epoch
    assert all(t >= 0 for t in history["allreduce_s"])


def test_bad_arguments_are_refused_before_training():
    model, x, y, fit = scenarios.plain()
    dp = DataParallel(model, comm=MPI.COMM_SELF)
    with pytest.raises(ValueError, match="epochs"):
        dp.fit(x, y, **{**fit, "epochs": -1})
    with pytest.raises(ValueError, match="features"):
        dp.fit(x[:, :5], y, **fit)
    with pytest.raises(ValueError, match="check_every"):
        DataParallel(model, comm=MPI.COMM_SELF, check_every=-2)
    assert model.epochs_trained == 0


def test_divergence_is_raised_not_aborted():
    model, x, y, fit = scenarios.plain()
    model.compile(optimizer=fnn.SGD(lr=1e30), loss="cross_entropy")
    with pytest.raises(fnn.DivergenceError):
        DataParallel(model, comm=MPI.COMM_SELF).fit(x * 1e30, y, **fit)


def test_replica_check_and_broadcast_on_one_rank():
    model, x, y, fit = scenarios.plain()
    dp = DataParallel(model, comm=MPI.COMM_SELF, check_every=1)
    dp.fit(x, y, verbose=0, **{**fit, "epochs": 1})
    dp.check_replicas()  # one rank always agrees with itself
    before = model.get_weights()
    dp.broadcast_state()
    np.testing.assert_array_equal(model.get_weights(), before)


def test_evaluate_and_save(tmp_path):
    model, x, y, fit = scenarios.weighted()
    dp = DataParallel(model, comm=MPI.COMM_SELF)
    dp.fit(x, y, verbose=0, **fit)
    weights = fit["sample_weight"]
    assert dp.evaluate(x, y, sample_weight=weights) == pytest.approx(
        model.evaluate(x, y, sample_weight=weights), rel=1e-12
    )
    dp.save(tmp_path / "m.safetensors")
    loaded = fnn.load_model(tmp_path / "m.safetensors")
    np.testing.assert_array_equal(loaded.get_weights(), model.get_weights())
    with pytest.raises(OSError):
        dp.save(tmp_path / "missing-dir" / "m.safetensors")


def test_without_mpi4py_the_error_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    model = scenarios.plain()[0]
    with pytest.raises(ImportError, match=r"\.\[mpi\]"):
        DataParallel(model)


@needs_mpiexec
def test_cli_train_distributed_matches_one_process(mnist_dir, tmp_path):
    flags = ["train", "--epochs", "1", "--hidden", "32", "--json", "--quiet"]
    flags += ["--data-dir", str(mnist_dir)]
    two = subprocess.run(
        [MPIEXEC, "-n", "2", sys.executable, "-m", "fastnn", *flags, "--distributed"]
        + ["--save", str(tmp_path / "two.safetensors")],
        capture_output=True,
        text=True,
        env={**os.environ, **RANK_ENV},
        timeout=300,
        cwd=ROOT,
    )
    assert two.returncode == 0, two.stderr
    lines = [line for line in two.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1  # rank 0 alone reports
    two_ranks = json.loads(lines[0])
    one = subprocess.run(
        [sys.executable, "-m", "fastnn", *flags],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert one.returncode == 0, one.stderr
    one_rank = json.loads(one.stdout.strip().splitlines()[-1])
    assert two_ranks["ranks"] == 2 and one_rank["ranks"] == 1
    assert two_ranks["test_accuracy"] == pytest.approx(
        one_rank["test_accuracy"], abs=2e-3
    )
    assert two_ranks["train_loss"] == pytest.approx(one_rank["train_loss"], rel=1e-4)
    assert fnn.load_model(tmp_path / "two.safetensors").epochs_trained == 1
