"""fastnn side by side with PyTorch (CPU), plain NumPy and scikit-learn.

    python benchmarks/compare.py [--quick] [--json FILE] [--plot FILE.png]

Every case runs the same float32 work in each installed contender, interleaved
(A B C A B C ...) so machine noise hits all alike, and prints medians and the
ratio fastnn / other. Train steps use SGD with momentum 0.9 and softmax
cross-entropy. GFLOP/s count only the matrix products a step really does:
forward 2*B*I*O per layer, backward 2*B*I*O for dW and, except for the first
layer (whose input gradient is never computed), 2*B*I*O for dX. The peak is
numpy's float32 ``a @ b`` at 4096x4096, measured in the same run.

On machines that set OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, unset both for this
command (``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python ...``).

Case 5 (MNIST to 98%) runs each contender in its own process, fastnn also on
raw uint8 images and with each CPU BLAS forced (``compare_mnist.py``). The
pieces live beside this entry point: ``compare_models.py`` (the networks),
``compare_contenders.py`` (what each case times), ``compare_timing.py``,
``compare_mnist.py`` and ``compare_report.py``; the names other scripts use
are re-exported here (``compare.BIG``, ``compare.make_torch``, ...).
"""

import argparse
import json
import os
import subprocess
import sys
import time

try:  # run as a script from benchmarks/
    import compare_contenders
    import compare_mnist
    import compare_models
    import compare_report
    import compare_timing
except ImportError:  # imported as benchmarks.compare: asv imports every module
    from . import (
        compare_contenders,
        compare_mnist,
        compare_models,
        compare_report,
        compare_timing,
    )

# the parts' names this script and other scripts and the tests use, as
# before the split (compare.BIG, compare.make_torch, ...)
FLOOR = compare_contenders.FLOOR
dense_layer_contenders = compare_contenders.dense_layer_contenders
fit_epoch_contenders = compare_contenders.fit_epoch_contenders
inference_contenders = compare_contenders.inference_contenders
products_only = compare_contenders.products_only
train_step_contenders = compare_contenders.train_step_contenders
FASTNN_ROWS = compare_mnist.FASTNN_ROWS
cosine_lr = compare_mnist.cosine_lr
mnist_case = compare_mnist.mnist_case
mnist_worker = compare_mnist.mnist_worker
peak_rss_megabytes = compare_mnist.peak_rss_megabytes
plain_mnist = compare_mnist.plain_mnist
run_mnist_case = compare_mnist.run_mnist_case
BIG = compare_models.BIG
SMALL = compare_models.SMALL
THREADS = compare_models.THREADS
NumpyMLP = compare_models.NumpyMLP
he_weights = compare_models.he_weights
make_fastnn = compare_models.make_fastnn
make_torch = compare_models.make_torch
torch_available = compare_models.torch_available
train_flops = compare_models.train_flops
fmt_time = compare_report.fmt_time
markdown_table = compare_report.markdown_table
print_case = compare_report.print_case
versions = compare_report.versions
first_call_after_idle = compare_timing.first_call_after_idle
interleaved = compare_timing.interleaved
matmul_peak_gflops = compare_timing.matmul_peak_gflops


def startup_times():
    """Cold compile (empty kernel cache) and warm start (filled cache) of
    import + one training step, each in a fresh process."""
    import tempfile

    code = (
        "import time; t=time.perf_counter(); import numpy as np, fastnn as fnn; "
        "m=fnn.Sequential([fnn.Dense(784,512,activation='relu'),fnn.Dense(512,10)],seed=0);"
        "m.compile(optimizer=fnn.SGD(lr=0.1,momentum=0.9),loss='cross_entropy',"
        "metrics=['accuracy']); x=np.zeros((128,784),np.float32); y=np.zeros(128,int);"
        "m.train_on_batch(x,y); m.fit(x,y,epochs=1,verbose=0); m.predict(x);"
        "print(time.perf_counter()-t)"
    )
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "FASTNN_CACHE_DIR": cache}
        cold = float(subprocess.check_output([sys.executable, "-c", code], env=env))
        warm = float(subprocess.check_output([sys.executable, "-c", code], env=env))
    return cold, warm


def main(argv=None):
    """Run the chosen cases, one MNIST worker (``--mnist-worker``) or only the
    table of earlier results (``--table-from``); returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few rounds, short cases")
    parser.add_argument("--json", metavar="FILE", help="write all results as JSON")
    parser.add_argument("--plot", metavar="FILE.png", help="plot the scaling case")
    parser.add_argument(
        "--markdown",
        metavar="FILE.md",
        help="write the results as a Markdown table (for the README)",
    )
    parser.add_argument(
        "--table-from",
        metavar="JSON",
        help="only render the Markdown table of an earlier --json file",
    )
    parser.add_argument("--data-dir", default=None, help="MNIST directory")
    parser.add_argument(
        "--cases",
        default="kernels,1,2,3,4,7,8,9,5,6,startup",
        help="comma-separated subset of cases to run (default: all)",
    )
    parser.add_argument("--mnist-worker", help=argparse.SUPPRESS)
    parser.add_argument("--max-epochs", type=int, default=10, help=argparse.SUPPRESS)
    parser.add_argument("--target", type=float, default=0.98, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.mnist_worker:
        mnist_worker(args.mnist_worker, args.max_epochs, args.target, args.data_dir)
        return 0
    if args.table_from:
        with open(args.table_from) as f:
            print(markdown_table(json.load(f)))
        return 0

    quick = args.quick
    cases = set(args.cases.split(","))
    rounds = 5 if quick else 21
    results = {"date": time.strftime("%Y-%m-%d"), "versions": versions(), "cases": {}}
    print("versions:", json.dumps(results["versions"]))
    peak = matmul_peak_gflops(2048 if quick else 4096)
    results["peak_gflops"] = peak
    print(f"float32 matmul peak (numpy a @ b): {peak:.0f} GFLOP/s")

    if "kernels" in cases:
        for batch in (128, 1024):
            times = interleaved(
                dense_layer_contenders(batch), rounds, 20 if batch == 128 else 4
            )
            flops = 3 * 2 * batch * 784 * 512  # forward, dW and dX products
            print_case(
                f"kernels: dense_forward + dense_backward, {batch}x784 -> 512, relu",
                times,
                flops,
                peak,
            )
            results["cases"][f"dense_layer_b{batch}"] = {"seconds": times}

    for key, title, sizes, batch, calls in [
        ("1_train_b128", "case 1: train step 784-512-512-10, batch 128", BIG, 128, 20),
        (
            "2_train_b1024",
            "case 2: train step 784-512-512-10, batch 1024",
            BIG,
            1024,
            4,
        ),
        ("3_train_small", "case 3: train step 32-64-64-10, batch 32", SMALL, 32, 500),
    ]:
        if key[0] not in cases:
            continue
        times = interleaved(
            train_step_contenders(sizes, batch, floor=True), rounds, calls
        )
        flops = train_flops(sizes, batch)
        print_case(title, times, flops, peak)
        results["cases"][key] = {
            "seconds": times,
            "gflops": {k: flops / v / 1e9 for k, v in times.items()},
        }

    for key, title, sizes, batch, steps, dropout in [
        ("7_fit_small", "case 7: fit epoch 32-64-64-10, batch 32", SMALL, 32, 200, None),
        ("8_fit_b128", "case 8: fit epoch 784-512-512-10, batch 128", BIG, 128, 20, None),
        (
            "9_fit_dropout",
            "case 9: fit epoch 784-512-512-10 with Dropout(0.2), batch 128",
            BIG, 128, 20, 0.2,
        ),
    ]:  # fmt: skip
        if key[0] not in cases:
            continue
        contenders = fit_epoch_contenders(sizes, batch, steps, dropout)
        epochs = interleaved(contenders, rounds, 1)
        times = {name: t / steps for name, t in epochs.items()}  # per step
        print_case(title + " (time per step)", times)
        results["cases"][key] = {"seconds": times}

    if "4" in cases:
        contenders = inference_contenders(BIG, floor=True)
        times = interleaved(contenders, rounds, 500)
        print_case("case 4: inference latency, batch 1, 784-512-512-10", times)
        contenders.pop(FLOOR)
        idle = first_call_after_idle(contenders, 5 if quick else 11)
        print(
            "  first call after 0.3 s idle: "
            + ", ".join(f"{name} {fmt_time(t).strip()}" for name, t in idle.items())
        )
        results["cases"]["4_infer_b1"] = {"seconds": times, "after_idle": idle}
    if "5" in cases:
        results["cases"]["5_mnist"] = mnist_case(quick, args.data_dir)
    if "6" in cases:
        results["cases"]["6_scaling"] = scaling_case(quick, args.plot)
    if "startup" in cases:
        cold, warm = startup_times()
        print(
            f"\nstartup: cold compile (empty cache) {cold:.2f} s, warm start {warm:.2f} s "
            "(import + first training steps)"
        )
        results["startup"] = {"cold_s": cold, "warm_s": warm}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(markdown_table(results) + "\n")
    return 0


def scaling_case(quick, plot):
    """Case 6: fastnn's step time against batch size and hidden width."""
    print(
        "\ncase 6: scaling (fastnn train step; 784-W-W-10 at batch 128 / 784-512-512-10)"
    )
    batches = [1, 16, 128, 1024] if quick else [1, 4, 16, 64, 256, 1024, 4096]
    widths = [64, 512] if quick else [64, 256, 1024, 2048, 4096]
    scaling = {"batch": {}, "width": {}}
    for batch in batches:
        t = interleaved(
            {"fastnn": train_step_contenders(BIG, batch, False)["fastnn"]},
            3 if quick else 7,
            2,
        )["fastnn"]
        scaling["batch"][batch] = t
        print(
            f"  batch {batch:5d}: {fmt_time(t)}  {train_flops(BIG, batch) / t / 1e9:6.1f} GFLOP/s"
        )
    for width in widths:
        sizes = (784, width, width, 10)
        t = interleaved(
            {"fastnn": train_step_contenders(sizes, 128, False)["fastnn"]},
            3 if quick else 7,
            2,
        )["fastnn"]
        scaling["width"][width] = t
        print(
            f"  width {width:5d}: {fmt_time(t)}  {train_flops(sizes, 128) / t / 1e9:6.1f} GFLOP/s"
        )
    if plot:
        plot_scaling(scaling, plot)
    return scaling


def plot_scaling(scaling, path):
    """Case 6 as two log-log panels in ``path`` (when matplotlib is installed)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("  (matplotlib not installed: no plot)")
        return
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, label in (
        (axes[0], "batch", "batch size"),
        (axes[1], "width", "hidden width"),
    ):
        xs = list(scaling[key])
        ax.loglog(xs, [scaling[key][x] * 1e3 for x in xs], "o-")
        ax.set_xlabel(label)
        ax.set_ylabel("ms per training step")
        ax.grid(True, which="both", alpha=0.3)
    fig.suptitle("fastnn training step cost")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"  plot written to {path}")


if __name__ == "__main__":
    sys.exit(main())
