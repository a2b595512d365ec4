"""Per-call cost of the model API's safety machinery, side by side.

Times a 784-512-512-10 training step at batch 128 (``train_on_batch``),
batch-1 inference (``predict``), and on a 32-64-64-10 network at batch 32 a
step of ``train_on_batch`` and a step of a whole ``fit`` epoch, in this
checkout, and, with ``--compare-with
DIR``, in another fastnn installed into DIR (``pip install --no-deps --target
DIR <checkout>``), alternating worker processes so both see the same machine
state. ``--threads`` also compares 4 threads predicting on one shared model
(per-call workspaces) with the same calls behind one global lock.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \\
        python benchmarks/model_overhead.py --compare-with /tmp/oldsite
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time

import numpy as np

SIZES = (784, 512, 512, 10)


SMALL = (32, 64, 64, 10)


def _model(sizes=SIZES):
    import fastnn as fnn

    layers = [
        fnn.Dense(sizes[i], sizes[i + 1], activation="relu")
        for i in range(len(sizes) - 2)
    ]
    layers.append(fnn.Dense(sizes[-2], sizes[-1]))
    model = fnn.Sequential(layers, seed=0)
    return model.compile(fnn.SGD(lr=0.01, momentum=0.9), "cross_entropy")


def _median_us(fn, calls, repeats):
    fn()
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        times.append((time.perf_counter() - start) / calls * 1e6)
    return statistics.median(times)


def _threaded_calls_per_s(model, x, lock, threads=4, calls=200):
    def work():
        for _ in range(calls):
            if lock is None:
                model.predict(x)
            else:
                with lock:
                    model.predict(x)

    pool = [threading.Thread(target=work) for _ in range(threads)]
    start = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return threads * calls / (time.perf_counter() - start)


def worker(with_threads):
    import fastnn

    rng = np.random.default_rng(0)
    model = _model()
    x128 = rng.random((128, SIZES[0]), dtype=np.float32)
    y128 = rng.integers(0, SIZES[-1], 128)
    x1 = x128[:1].copy()
    result = {
        "fastnn": os.path.dirname(fastnn.__file__),
        "step_b128_us": _median_us(lambda: model.train_on_batch(x128, y128), 20, 15),
        "predict_b1_us": _median_us(lambda: model.predict(x1), 500, 15),
    }
    small = _model(SMALL)
    xs = rng.standard_normal((32 * 200, SMALL[0])).astype(np.float32)
    ys = rng.integers(0, SMALL[-1], len(xs))
    result["small_train_on_batch_us"] = _median_us(
        lambda: small.train_on_batch(xs[:32], ys[:32]), 200, 15
    )
    epoch = lambda: small.fit(xs, ys, epochs=1, batch_size=32, verbose=0)  # noqa: E731
    result["small_fit_per_step_us"] = _median_us(epoch, 1, 9) / 200
    if with_threads:
        x64 = x128[:64].copy()
        result["threads4_predict_b64_calls_per_s"] = _threaded_calls_per_s(
            model, x64, None
        )
        result["threads4_predict_b64_global_lock_calls_per_s"] = _threaded_calls_per_s(
            model, x64, threading.Lock()
        )
    print(json.dumps(result))


def _run_worker(site, with_threads):
    env = dict(os.environ)
    if site:
        env["PYTHONPATH"] = site
    cmd = [sys.executable, os.path.abspath(__file__), "--worker"]
    if with_threads:
        cmd.append("--threads")
    out = subprocess.run(
        cmd, env=env, cwd="/", capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare-with", metavar="DIR")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", action="store_true")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.threads)
    contenders = {"this checkout": None}
    if args.compare_with:
        contenders["other"] = args.compare_with
    runs = {name: [] for name in contenders}
    for _ in range(args.rounds):
        for name, site in contenders.items():
            runs[name].append(_run_worker(site, args.threads))
    keys = [k for k in runs["this checkout"][0] if k != "fastnn"]
    print(f"{'':>48}" + "".join(f"{name:>16}" for name in contenders))
    for key in keys:
        medians = [statistics.median(r[key] for r in runs[n]) for n in contenders]
        row = "".join(f"{m:16.1f}" for m in medians)
        ratio = f"   ratio {medians[0] / medians[1]:.3f}" if len(medians) == 2 else ""
        print(f"{key:>48}{row}{ratio}")


if __name__ == "__main__":
    main()
