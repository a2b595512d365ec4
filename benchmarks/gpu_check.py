"""One command for a machine with an NVIDIA GPU: run the CUDA tests on the real
device, then time cases 1-4 of compare.py on the GPU against PyTorch CUDA and
MNIST to 98% test accuracy (fastnn GPU vs fastnn CPU vs PyTorch CUDA), and
print one table. Meant to finish in under 5 minutes.

    python benchmarks/gpu_check.py [--out DIR] [--data-dir MNIST_DIR] [--skip-tests]

fastnn is installed from this checkout (``pip install --no-deps -e .``) if it
is not importable. On a machine without internet, bring the wheels fastnn needs
beyond numba/numpy/torch/cupy, and the MNIST files, in git-ignored folders:

    mkdir -p .whl .data && cp ../shared/data/mnist/*.gz .data/
    pip download --no-deps --only-binary=:all: --python-version 3.12 \
        --platform manylinux_2_17_x86_64 -d .whl tqdm safetensors pytest pluggy iniconfig
    # on the GPU machine (folders .whl and .data carried along):
    pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl
    PYTHONPATH=/tmp/site python benchmarks/gpu_check.py --data-dir .data --out $OUT
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))


def ensure_fastnn():
    try:
        import fastnn  # noqa: F401
    except ImportError:
        subprocess.check_call(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "-q",
                "--no-deps",
                "--no-build-isolation",
                "-e",
                str(ROOT),
            ]
        )


def run_cuda_tests(out_dir):
    log = out_dir / "cuda_tests.log" if out_dir else None
    start = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(ROOT / "tests" / "cuda"),
            "-q",
            "-p",
            "no:cacheprovider",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if log:
        log.write_text(proc.stdout + proc.stderr)
    summary = (proc.stdout.strip().splitlines() or ["(no output)"])[-1]
    print(f"CUDA tests on the device: {summary} ({time.perf_counter() - start:.0f} s)")
    return {"returncode": proc.returncode, "summary": summary}


def gpu_timer(fn, sync, rounds=15, calls=10):
    for _ in range(3):
        fn()
    sync()
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        sync()
        samples.append((time.perf_counter() - start) / calls)
    import numpy as np

    return float(np.median(samples))


def fastnn_gpu_step(sizes, batch):
    """A device-resident training step: inputs already on the GPU, as torch's."""
    import compare
    import numpy as np

    model = compare.make_fastnn(sizes).to("cuda")
    rng = np.random.default_rng(1)
    x = rng.random((batch, sizes[0]), dtype=np.float32)
    y = rng.integers(0, sizes[-1], batch)
    model.train_on_batch(x, y)  # allocates the buffers and compiles
    bufs = model._train_ws.rows(batch)
    x_dev = bufs.acts[0]  # train_on_batch left the batch's copy there
    return lambda: model._train_step(bufs, x_dev, 0)


def torch_gpu_step(sizes, batch):
    import compare
    import numpy as np
    import torch

    model, optimizer = compare.make_torch(sizes)
    model = model.cuda()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    rng = np.random.default_rng(1)
    x = torch.from_numpy(rng.random((batch, sizes[0]), dtype=np.float32)).cuda()
    y = torch.from_numpy(rng.integers(0, sizes[-1], batch)).cuda()
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        optimizer.step()

    return step


def step_cases():
    import compare
    import numpy as np
    import torch
    from numba import cuda

    def sync():
        cuda.synchronize()
        torch.cuda.synchronize()

    rows = {}
    for key, sizes, batch in (
        ("1 train b128", compare.BIG, 128),
        ("2 train b1024", compare.BIG, 1024),
        ("3 train small b32", compare.SMALL, 32),
    ):
        rows[key] = {
            "fastnn": gpu_timer(fastnn_gpu_step(sizes, batch), sync),
            "pytorch": gpu_timer(torch_gpu_step(sizes, batch), sync),
            "gflop": compare.train_flops(sizes, batch) / 1e9,
        }
    x = np.random.default_rng(2).random((1, 784), dtype=np.float32)
    model = compare.make_fastnn(compare.BIG).to("cuda")
    tmodel, _ = compare.make_torch(compare.BIG)
    tmodel = tmodel.cuda()
    tx = torch.from_numpy(x).cuda()

    def torch_infer():
        with torch.inference_mode():
            return tmodel(tx).cpu()  # both return host arrays

    rows["4 infer b1"] = {
        "fastnn": gpu_timer(lambda: model.predict(x), sync),
        "pytorch": gpu_timer(torch_infer, sync),
        "gflop": None,
    }
    return rows


def mnist_to_98(device, data_dir, max_epochs=10):
    import compare

    import fastnn as fnn

    start = time.perf_counter()
    (x_train, y_train), (x_test, y_test) = fnn.datasets.load_mnist(data_dir)
    model = compare.make_fastnn(
        compare.BIG, lr=0.05, schedule=fnn.CosineDecay(max_epochs)
    )
    model.to(device)
    accuracy, epochs = 0.0, 0
    while epochs < max_epochs and accuracy < 0.98:
        model.fit(x_train, y_train, epochs=1, batch_size=128, seed=0, verbose=0)
        epochs += 1
        accuracy = model.evaluate(x_test, y_test)["accuracy"]
    return {
        "seconds": time.perf_counter() - start,
        "epochs": epochs,
        "accuracy": accuracy,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", default=os.environ.get("OUT"), help="directory for logs/JSON"
    )
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--skip-tests", action="store_true")
    args = parser.parse_args(argv)
    out_dir = Path(args.out) if args.out else None
    if out_dir:
        out_dir.mkdir(parents=True, exist_ok=True)
    ensure_fastnn()
    from fastnn.cli import info_lines

    print("\n".join(info_lines()))
    results = {}
    if not args.skip_tests:
        results["tests"] = run_cuda_tests(out_dir)
    results["steps"] = step_cases()
    print(
        f"\n{'case':20s} {'fastnn GPU':>12s} {'PyTorch GPU':>12s} {'ratio':>7s} {'GFLOP/s':>9s}"
    )
    for key, row in results["steps"].items():
        gflops = f"{row['gflop'] / row['fastnn']:9.1f}" if row["gflop"] else " " * 9
        print(
            f"{key:20s} {row['fastnn'] * 1e3:10.3f}ms {row['pytorch'] * 1e3:10.3f}ms "
            f"{row['fastnn'] / row['pytorch']:7.3f} {gflops}"
        )
    try:
        results["mnist"] = {
            dev: mnist_to_98(dev, args.data_dir) for dev in ("cuda", "cpu")
        }
        for dev, r in results["mnist"].items():
            print(
                f"MNIST to 98% on {dev}: {r['seconds']:.1f} s, {r['epochs']} epochs, "
                f"accuracy {r['accuracy']:.4f}"
            )
        print(
            f"GPU/CPU time ratio: {results['mnist']['cuda']['seconds'] / results['mnist']['cpu']['seconds']:.3f}"
        )
    except Exception as exc:  # no data on the machine: report, keep the rest
        print(f"MNIST skipped: {exc}")
    if out_dir:
        (out_dir / "gpu_check.json").write_text(json.dumps(results, indent=2))
    return 0 if results.get("tests", {}).get("returncode", 0) == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
