"""Data-parallel training of GPU models, checked against one CPU process.

Run under MPI by ``gpu_check.py`` (its "distributed" section):

    mpiexec -n 2 python benchmarks/gpu_distributed.py [--device cuda]

Every rank builds the same model on ``--device`` and trains it with
``fastnn.distributed.DataParallel`` on the scenarios of the MPI test suite
(``tests/distributed/scenarios.py``: Nesterov SGD; sample and class weights
with Adam and a cosine schedule; Dropout with MSE and AdamW); rank 0 then
trains the same model on the CPU in this one process and prints a JSON line
per scenario with the largest weight difference and both final losses. The
ranks share whatever GPUs the machine has (each takes the current device).
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ("plain", "weighted", "dropout_mse")


def compare_scenario(name, device, comm):
    """Train scenario ``name`` data-parallel on ``device``; on rank 0 also in
    one CPU process, and return the comparison (None on other ranks)."""
    import scenarios

    from fastnn.distributed import DataParallel

    model, x, y, fit = getattr(scenarios, name)()
    model.to(device)
    history = DataParallel(model, comm=comm).fit(x, y, verbose=0, **fit)
    if comm.rank != 0:
        return None
    reference_model = getattr(scenarios, name)()[0]
    reference = reference_model.fit(x, y, verbose=0, **fit)
    weights = np.asarray(model.get_weights())
    expected = np.asarray(reference_model.get_weights())
    return {
        "scenario": name,
        "ranks": comm.size,
        "device": str(model.device),
        "dtype": str(weights.dtype),
        "max_abs_weight_diff": float(np.max(np.abs(weights - expected))),
        "loss_data_parallel": history["loss"][-1],
        "loss_one_process": reference["loss"][-1],
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args(argv)
    for path in (ROOT, ROOT / "tests" / "distributed"):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    for name in SCENARIOS:
        result = compare_scenario(name, args.device, comm)
        if result is not None:
            print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
