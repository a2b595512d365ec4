"""Run under mpiexec by tests/test_distributed.py:

    mpiexec -n 2 python tests/distributed/run.py OUT_DIR MODE [ARGS]

MODE ``scenarios``: every scenario of scenarios.py twice (the second run
checks that a seed repeats exactly); rank 0 saves histories and weights to
OUT_DIR/<name>.npz. MODE ``fail``: rank 1 raises in a callback of epoch 2;
``killed``: rank 1 is killed (SIGKILL) there.
MODE ``mismatch``: rank 1 passes another batch size; each rank prints the
error it got. MODE ``resume CHECKPOINT EPOCHS``: continue a saved model.
"""

import os
import signal
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

import numpy as np  # noqa: E402
from mpi4py import MPI  # noqa: E402

import fastnn as fnn  # noqa: E402
from fastnn.distributed import DataParallel  # noqa: E402
from tests.distributed import scenarios  # noqa: E402

comm = MPI.COMM_WORLD


def save(path, history, weights):
    arrays = {f"history_{k}": np.asarray(v) for k, v in history.history.items()}
    np.savez(path, weights=weights, **arrays)


def run_scenarios(out_dir):
    for name in scenarios.SCENARIOS:
        history, weights = scenarios.run_data_parallel(name, comm)
        again, weights_again = scenarios.run_data_parallel(name, comm)
        if comm.rank == 0:
            save(os.path.join(out_dir, name + ".npz"), history, weights)
            save(os.path.join(out_dir, name + "_again.npz"), again, weights_again)


class FailOnRankOne(fnn.Callback):
    def on_epoch_end(self, model, epoch, logs):
        if comm.rank == 1 and epoch == 1:
            raise OSError("disk full (a test's injected failure)")
        return False


def run_fail():
    model, x, y, fit = scenarios.plain()
    fit["epochs"] = 5
    DataParallel(model).fit(x, y, verbose=0, callbacks=[FailOnRankOne()], **fit)
    print(f"rank {comm.rank}: finished, which it must not", flush=True)


class KilledOnRankOne(fnn.Callback):
    def on_epoch_end(self, model, epoch, logs):
        if comm.rank == 1 and epoch == 1:
            os.kill(os.getpid(), signal.SIGKILL)
        return False


def run_killed():
    model, x, y, fit = scenarios.plain()
    fit["epochs"] = 50
    DataParallel(model).fit(x, y, verbose=0, callbacks=[KilledOnRankOne()], **fit)
    print(f"rank {comm.rank}: finished, which it must not", flush=True)


def run_mismatch():
    model, x, y, fit = scenarios.plain()
    fit["batch_size"] += comm.rank
    try:
        DataParallel(model).fit(x, y, verbose=0, **fit)
    except ValueError as exc:
        print(f"rank {comm.rank}: ValueError: {exc}", flush=True)


def run_resume(out_dir, checkpoint, epochs):
    model = fnn.load_model(checkpoint)
    _, x, y, fit = scenarios.plain()
    fit["epochs"] = int(epochs)
    dp = DataParallel(model)
    history = dp.fit(x, y, verbose=0, **fit)
    dp.save(os.path.join(out_dir, "resumed.safetensors"))
    if dp.is_root:
        save(os.path.join(out_dir, "resumed.npz"), history, model.get_weights())


if __name__ == "__main__":
    out, mode, *rest = sys.argv[1:]
    {
        "scenarios": lambda: run_scenarios(out),
        "fail": run_fail,
        "killed": run_killed,
        "mismatch": run_mismatch,
        "resume": lambda: run_resume(out, *rest),
    }[mode]()
