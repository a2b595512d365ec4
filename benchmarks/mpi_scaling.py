"""Data-parallel scaling on this machine, and a cost model for larger ones.

    python benchmarks/mpi_scaling.py [--epochs 2] [--rows 30720] [--json PATH]

Trains the 784-512-512-10 MLP (float32, SGD with momentum, random
MNIST-shaped data) with ``fastnn.distributed.DataParallel`` under
``mpiexec``: 1 rank with all the cores' BLAS threads against N ranks with
one thread each, at per-rank batches 128 and 1024 (global batch = per-rank
batch x ranks). It reports samples/s and the share of each step spent in
the Allreduce, times a bare Allreduce of the 2.7 MB gradient, and prints
the ring-allreduce model

    T_allreduce(p) = 2 (p - 1) alpha + 2 (p - 1) / p * S / bandwidth

for p = 8, 64, 512 ranks on 25 and 200 Gb/s networks, with the efficiency
t_step / (t_step + T_allreduce) (no overlap of communication and compute),
t_step being the one-thread step time measured here.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np

WIDTHS = (784, 512, 512, 10)
N_PARAMS = sum(a * b + b for a, b in zip(WIDTHS, WIDTHS[1:]))
GRADIENT_BYTES = 4 * N_PARAMS
NETWORKS = {"25 Gb/s": 25e9 / 8, "200 Gb/s": 200e9 / 8}
#: per-message latency assumed for the model (a typical MPI over RDMA/TCP);
#: it matters only for small gradients or very many ranks
ALPHA_S = {"25 Gb/s": 10e-6, "200 Gb/s": 2e-6}


def worker(per_rank_batch, rows, epochs):
    """Run inside mpiexec: train, print rank 0's measurements as JSON."""
    from mpi4py import MPI

    import fastnn as fnn
    from fastnn.distributed import DataParallel

    comm = MPI.COMM_WORLD
    rng = np.random.default_rng(0)
    x = rng.random((rows, WIDTHS[0]), dtype=np.float32)
    y = rng.integers(0, WIDTHS[-1], rows)
    layers = [fnn.Dense(a, b, activation="relu") for a, b in zip(WIDTHS, WIDTHS[1:-1])]
    model = fnn.Sequential([*layers, fnn.Dense(WIDTHS[-2], WIDTHS[-1])])
    model.compile(optimizer=fnn.SGD(lr=0.01, momentum=0.9), loss="cross_entropy")
    dp = DataParallel(model)
    batch = per_rank_batch * comm.size
    dp.fit(x[: batch * 4], y[: batch * 4], epochs=1, batch_size=batch, verbose=0)
    history = dp.fit(x, y, epochs=epochs, batch_size=batch, verbose=0, seed=0)
    # a bare Allreduce of the gradient's size, as the model's step does
    buffer = np.ones(N_PARAMS, np.float32)
    comm.Barrier()
    began = time.perf_counter()
    for _ in range(50):
        comm.Allreduce(MPI.IN_PLACE, buffer)
    bare = (time.perf_counter() - began) / 50
    if comm.rank == 0:
        seconds = float(np.median(history["time_s"]))
        print(
            json.dumps(
                {
                    "ranks": comm.size,
                    "per_rank_batch": per_rank_batch,
                    "samples_per_s": rows / seconds,
                    "step_ms": 1e3 * seconds / (rows // batch),
                    "allreduce_share": float(
                        np.median(np.array(history["allreduce_s"]) / seconds)
                    ),
                    "bare_allreduce_ms": 1e3 * bare,
                }
            ),
            flush=True,
        )


def run(ranks, threads, per_rank_batch, rows, epochs):
    mpiexec = shutil.which("mpiexec", path=os.path.dirname(sys.executable))
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        "OPENBLAS_NUM_THREADS": str(threads),
    }
    command = [mpiexec or "mpiexec", "-n", str(ranks), sys.executable, __file__]
    command += ["--worker", str(per_rank_batch), "--rows", str(rows)]
    command += ["--epochs", str(epochs)]
    proc = subprocess.run(command, capture_output=True, text=True, env=env)
    if proc.returncode:
        raise RuntimeError(proc.stderr)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["threads_per_rank"] = threads
    return result


def cost_model(step_s):
    """{network: {ranks: (allreduce_ms, efficiency)}} for one step time."""
    table = {}
    for network, bandwidth in NETWORKS.items():
        table[network] = {}
        for p in (8, 64, 512):
            t = 2 * (p - 1) * ALPHA_S[network]
            t += 2 * (p - 1) / p * GRADIENT_BYTES / bandwidth
            table[network][p] = (1e3 * t, step_s / (step_s + t))
    return table


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--rows", type=int, default=30720)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args()
    if args.worker is not None:
        worker(args.worker, args.rows, args.epochs)
        return
    cores = os.cpu_count() or 1
    results = []
    for per_rank_batch in (128, 1024):
        for ranks, threads in ((1, cores), (1, 1), (cores, 1)):
            if ranks == 1 and threads == 1 and cores == 1:
                continue
            r = run(ranks, threads, per_rank_batch, args.rows, args.epochs)
            results.append(r)
            print(
                f"per-rank batch {per_rank_batch:5d}  {ranks} rank(s) x {threads} "
                f"thread(s): {r['samples_per_s']:9,.0f} samples/s  step "
                f"{r['step_ms']:7.2f} ms  Allreduce {100 * r['allreduce_share']:4.1f}%"
                f" of the epoch  (bare {GRADIENT_BYTES / 1e6:.1f} MB Allreduce "
                f"{r['bare_allreduce_ms']:.2f} ms)",
                flush=True,
            )
    print(f"\nRing-allreduce model, S = {GRADIENT_BYTES / 1e6:.2f} MB, no overlap:")
    models = {}
    for per_rank_batch in (128, 1024):
        one_thread = next(
            r
            for r in results
            if r["ranks"] == 1
            and r["threads_per_rank"] == 1
            and r["per_rank_batch"] == per_rank_batch
        )
        step_s = one_thread["step_ms"] / 1e3
        models[per_rank_batch] = table = cost_model(step_s)
        for network, rows in table.items():
            cells = "  ".join(
                f"p={p}: {ms:.2f} ms, {100 * eff:.0f}%" for p, (ms, eff) in rows.items()
            )
            print(
                f"batch {per_rank_batch}/rank (step {1e3 * step_s:.1f} ms), "
                f"{network} (alpha {1e6 * ALPHA_S[network]:.0f} us): {cells}"
            )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"runs": results, "model": models}, f, indent=1)


if __name__ == "__main__":
    main()
