"""A training step with fastnn.torch.Dense layers against nn.Linear layers, in
one process, under each thread setting.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/torch_interop.py

The 784-512-512-10 float32 network of ``compare.py`` (ReLU hidden layers,
cross-entropy on logits, SGD with momentum 0.9), batch 128, three ways:

- ``nn.Linear``: a torch model of nn.Linear + nn.ReLU (torch's own kernels);
- ``fnt.Dense``: the same torch model with ``fastnn.torch.Dense`` layers
  (fastnn's kernels and BLAS inside torch's autograd, loss and optimizer);
- ``fastnn``: ``Sequential.train_on_batch`` of the same network.

A step is zero_grad, forward, loss, backward, optimizer step. Each setting
runs in a process of its own (thread pools and their settings last for the
whole process); within it the contenders alternate by round
(``compare.interleaved``) and the table gives medians per step. Settings:

- ``defaults``: torch imported first, both pools at their defaults;
- ``fastnn first``: fastnn's BLAS loaded before torch is imported;
- ``torch 1``: ``torch.set_num_threads(1)``;
- ``blas 1``: ``threadpoolctl.threadpool_limits(1, user_api="blas")``;
- ``torch 1 + blas 1``: both;
- ``omp passive``: the defaults with ``OMP_WAIT_POLICY=PASSIVE`` (OpenMP
  threads sleep at once after a parallel region instead of spinning);
- ``no torch``: fastnn alone, torch never imported (the baseline of the
  ``fastnn`` column);
- ``torch only``: nn.Linear alone, fastnn never imported (the baseline of
  the ``nn.Linear`` column).

The OpenMP and BLAS libraries each process loaded (threadpoolctl) are printed
with the results. Seen with MKL: torch imported first, MKL runs on torch's
``libgomp`` (one OpenMP pool for both); fastnn's BLAS loaded first, MKL runs
on ``libiomp5`` beside it. The measured table and what to do about threads
are in the docstring of ``fastnn/torch.py``.
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from compare import BIG, fmt_time, he_weights, interleaved, versions  # noqa: E402

BATCH = 128
LR = 0.01
SETTINGS = (
    "defaults",
    "fastnn first",
    "torch 1",
    "blas 1",
    "torch 1 + blas 1",
    "omp passive",
    "no torch",
    "torch only",
)
#: environment of a setting's process, beside the caller's
ENVIRONMENT = {"omp passive": {"OMP_WAIT_POLICY": "PASSIVE"}}
CONTENDERS = ("nn.Linear", "fnt.Dense", "fastnn")
#: seconds of steps per contender in one round (the calls are sized to it)
BLOCK_S = 0.25


def batch(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((BATCH, BIG[0]), dtype=np.float32)
    y = rng.integers(0, BIG[-1], BATCH)
    return x, y


def fastnn_step():
    from compare import make_fastnn

    model = make_fastnn(BIG, lr=LR)
    x, y = batch()
    return lambda: model.train_on_batch(x, y)


def torch_step(fastnn_kernels):
    import torch

    modules = []
    weights = he_weights(BIG)
    for k, (w, b) in enumerate(weights):
        relu = k < len(weights) - 1
        linear = torch.nn.Linear(*w.shape)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(w.T.copy()))
            linear.bias.copy_(torch.from_numpy(b))
        if fastnn_kernels:
            import fastnn.torch as fnt

            modules.append(fnt.Dense.from_linear(linear, "relu" if relu else None))
        else:
            modules.extend([linear, torch.nn.ReLU()] if relu else [linear])
    net = torch.nn.Sequential(*modules)
    optimizer = torch.optim.SGD(net.parameters(), lr=LR, momentum=0.9)
    x, y = batch()
    x, y = torch.from_numpy(x), torch.from_numpy(y)

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(net(x), y)
        loss.backward()
        optimizer.step()

    return step


def sized(fn):
    """``fn`` and the number of calls that take about BLOCK_S seconds."""
    for _ in range(3):
        fn()
    start = time.perf_counter()
    for _ in range(3):
        fn()
    per_call = (time.perf_counter() - start) / 3
    return max(1, int(BLOCK_S / per_call))


def worker(setting, rounds):
    """Median seconds per step of each contender under ``setting``."""
    from contextlib import ExitStack

    from threadpoolctl import threadpool_info, threadpool_limits

    with ExitStack() as stack:
        if setting == "fastnn first":
            step = fastnn_step()
            step()  # loads fastnn's BLAS before torch
        if setting != "no torch":
            import torch

        if setting in ("torch 1", "torch 1 + blas 1"):
            torch.set_num_threads(1)
        if setting in ("blas 1", "torch 1 + blas 1"):
            stack.enter_context(threadpool_limits(1, user_api="blas"))
        steps = {}
        if setting != "torch only":
            steps["fastnn"] = fastnn_step()
        if setting != "no torch":
            steps["nn.Linear"] = torch_step(fastnn_kernels=False)
        if setting not in ("no torch", "torch only"):
            steps["fnt.Dense"] = torch_step(fastnn_kernels=True)
        calls = min(sized(fn) for fn in steps.values())
        seconds = interleaved(steps, rounds, calls)
        pools = [
            f"{p['user_api']}:{p['internal_api']} {os.path.basename(p['filepath'])} "
            f"({p['num_threads']} threads)"
            for p in threadpool_info()
        ]
    return {
        "setting": setting,
        "seconds": seconds,
        "calls": calls,
        "rounds": rounds,
        "pools": pools,
        "torch_threads": torch.get_num_threads() if setting != "no torch" else None,
        "fastnn_imported": "fastnn" in sys.modules,
    }


def run_settings(settings, rounds):
    results = []
    for setting in settings:
        proc = subprocess.run(
            [sys.executable, __file__, "--worker", setting, "--rounds", str(rounds)],
            capture_output=True,
            text=True,
            env={**os.environ, **ENVIRONMENT.get(setting, {})},
        )
        if proc.returncode != 0:
            raise RuntimeError(f"{setting}: {proc.stderr[-2000:]}")
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(f"{setting}: {results[-1]['seconds']}", file=sys.stderr)
    return results


def markdown(results):
    lines = [
        "| 784-512-512-10 f32, b128, one process | nn.Linear | fnt.Dense "
        "| fastnn `train_on_batch` | fnt.Dense / nn.Linear |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in results:
        s = r["seconds"]
        cells = [fmt_time(s[c]).strip() if c in s else "-" for c in CONTENDERS]
        ratio = f"{s['fnt.Dense'] / s['nn.Linear']:.2f}" if "fnt.Dense" in s else "-"
        lines.append(f"| {r['setting']} | " + " | ".join(cells) + f" | {ratio} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few rounds (smoke run)")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--settings", default=",".join(SETTINGS))
    parser.add_argument("--json", metavar="FILE", help="write the results as JSON")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    rounds = 3 if args.quick else args.rounds
    if args.worker:
        print(json.dumps(worker(args.worker, rounds)))
        return 0
    settings = [s.strip() for s in args.settings.split(",")]
    unknown = set(settings) - set(SETTINGS)
    if unknown:
        parser.error(f"unknown settings {sorted(unknown)}; choose from {SETTINGS}")
    info = versions()
    info["load_average"] = os.getloadavg()
    results = run_settings(settings, rounds)
    info["load_average_after"] = os.getloadavg()
    print(json.dumps(info))
    for r in results:
        print(
            f"{r['setting']}: torch threads {r['torch_threads']}; "
            + "; ".join(r["pools"])
        )
    print(markdown(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"environment": info, "results": results}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
