"""Case 5 of ``compare.py``: MNIST to 98% test accuracy, one process per row.

Every row trains the same recipe (784-512-512-10, SGD 0.05 with momentum 0.9,
cosine decay, batch 128) until the test accuracy reaches the target, in a
fresh process (``compare.py --mnist-worker NAME``), so its time includes its
imports and data loading and its peak RSS is its own. fastnn has four rows:

- ``fastnn``: float32 images, the BLAS that ``FASTNN_CPU_BLAS`` picks
  (``auto`` unless set);
- ``fastnn-uint8``: the raw uint8 images, scaled by the model a batch at a
  time (``input_scale=1/255``, as ``fastnn train`` does): no float32 copy of
  the dataset exists;
- ``fastnn-mkl`` and ``fastnn-openblas``: float32 with ``FASTNN_CPU_BLAS``
  forced in that process alone. Every fastnn row reports the BLAS that ran
  (``cpu_blas``); a forced BLAS that cannot be used gives an ``error`` row,
  not timings of another BLAS. Each BLAS has its own kernel cache: the
  first run with one includes compiling the kernels for it.

The other contenders read the IDX files with NumPy alone (``plain_mnist``)
and never import fastnn or Numba.
"""

import json
import math
import os
import resource
import subprocess
import sys
import time

import numpy as np

try:  # run from benchmarks/ (compare.py as a script)
    from compare_models import BIG, NumpyMLP, make_fastnn, make_torch, torch_available
except ImportError:  # imported as benchmarks.compare_mnist: asv imports every module
    from .compare_models import (
        BIG,
        NumpyMLP,
        make_fastnn,
        make_torch,
        torch_available,
    )

#: the script whose hidden ``--mnist-worker`` option runs one row
COMPARE_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "compare.py")
#: fastnn rows: name -> (image dtype, forced FASTNN_CPU_BLAS or None)
FASTNN_ROWS = {
    "fastnn": ("float32", None),
    "fastnn-uint8": ("uint8", None),
    "fastnn-mkl": ("float32", "mkl"),
    "fastnn-openblas": ("float32", "openblas"),
}
OTHER_ROWS = ("pytorch", "numpy", "sklearn")


def plain_mnist(directory):
    """MNIST from the IDX files with gzip and NumPy alone, scaled as fastnn's
    loader scales it, for the other contenders: their runs must not import
    fastnn (and Numba), whose time and memory would be counted against them.
    No checksum pass, unlike fastnn's loader."""
    import gzip

    arrays = []
    for name, offset in [
        ("train-images-idx3-ubyte", 16),
        ("train-labels-idx1-ubyte", 8),
        ("t10k-images-idx3-ubyte", 16),
        ("t10k-labels-idx1-ubyte", 8),
    ]:
        path = os.path.join(directory, name)
        if os.path.exists(path + ".gz"):
            with gzip.open(path + ".gz", "rb") as f:
                data = f.read()
        else:
            with open(path, "rb") as f:
                data = f.read()
        raw = np.frombuffer(data, np.uint8, offset=offset)
        if offset == 16:
            values = raw.reshape(-1, 784).astype(np.float32)
            values /= np.float32(255.0)
            arrays.append(values)
        else:
            arrays.append(raw.astype(np.int64))
    return (arrays[0], arrays[1]), (arrays[2], arrays[3])


def cosine_lr(lr, epoch, epochs):
    """fastnn.CosineDecay(epochs)(lr, epoch), written out for the other
    contenders (a test checks the two agree)."""
    return lr * (1 + math.cos(math.pi * min(epoch, epochs) / epochs)) / 2


def import_fastnn(blas=None):
    """``(fastnn, None)``, or ``(None, why)`` where the forced ``blas`` cannot run.

    fastnn reads ``FASTNN_CPU_BLAS`` once, when it is first imported, so the
    variable is set here, in the worker's own process, before that import.
    """
    if blas is not None:
        os.environ["FASTNN_CPU_BLAS"] = blas
    try:
        import fastnn
    except ImportError as exc:  # FASTNN_CPU_BLAS=mkl without Intel MKL
        if blas is None:
            raise
        return None, str(exc)
    used = fastnn.kernels.cpu_blas()
    if blas is not None and used != blas:  # imported earlier, with another BLAS
        return None, f"FASTNN_CPU_BLAS={blas} asked, but fastnn already runs {used}"
    return fastnn, None


def mnist_worker(name, max_epochs, target, data_dir):
    """Train the shared recipe until test accuracy >= target; print JSON.

    ``data_dir`` must hold the MNIST files (the parent process resolves it).
    The JSON names the image dtype trained on and, for fastnn rows, the BLAS
    the kernels called (``cpu_blas``); a row whose forced BLAS cannot be used
    prints ``error`` and trains nothing.
    """
    if name not in FASTNN_ROWS and name not in OTHER_ROWS:
        raise ValueError(f"--mnist-worker: unknown contender {name!r}")
    start = time.perf_counter()
    blas_report = {}
    if name in FASTNN_ROWS:
        dtype, blas = FASTNN_ROWS[name]
        fnn, error = import_fastnn(blas)
        if error is not None:
            print(json.dumps(dict(name=name, cpu_blas_requested=blas, error=error)))
            return
        blas_report["cpu_blas"] = fnn.kernels.cpu_blas()
        if blas is not None:
            blas_report["cpu_blas_requested"] = blas
        (x_train, y_train), (x_test, y_test) = fnn.datasets.load_mnist(
            data_dir, dtype=dtype
        )
    else:
        (x_train, y_train), (x_test, y_test) = plain_mnist(data_dir)
    batch, lr, epochs_run, accuracy = 128, 0.05, 0, 0.0
    seconds_per_epoch = []
    rng = np.random.default_rng(0)
    if name in FASTNN_ROWS:
        # raw pixels: the model scales each batch as it gathers it
        input_scale = 1 / 255 if x_train.dtype == np.uint8 else None
        model = make_fastnn(
            BIG,
            lr=lr,
            schedule=fnn.CosineDecay(max_epochs),
            input_scale=input_scale,
        )
        while epochs_run < max_epochs and accuracy < target:
            t0 = time.perf_counter()
            model.fit(x_train, y_train, epochs=1, batch_size=batch, seed=0, verbose=0)
            seconds_per_epoch.append(time.perf_counter() - t0)
            epochs_run += 1
            accuracy = model.evaluate(x_test, y_test)["accuracy"]
    elif name == "pytorch":
        import torch

        model, optimizer = make_torch(BIG, lr=lr)
        loss_fn = torch.nn.CrossEntropyLoss()
        tx, ty = torch.from_numpy(x_train), torch.from_numpy(y_train)
        tx_test = torch.from_numpy(x_test)
        while epochs_run < max_epochs and accuracy < target:
            for group in optimizer.param_groups:
                group["lr"] = cosine_lr(lr, epochs_run, max_epochs)
            t0 = time.perf_counter()
            order = torch.from_numpy(rng.permutation(len(x_train)))
            for lo in range(0, len(x_train), batch):
                idx = order[lo : lo + batch]
                optimizer.zero_grad(set_to_none=True)
                loss_fn(model(tx[idx]), ty[idx]).backward()
                optimizer.step()
            seconds_per_epoch.append(time.perf_counter() - t0)
            epochs_run += 1
            with torch.inference_mode():
                accuracy = float((model(tx_test).argmax(1).numpy() == y_test).mean())
    elif name == "numpy":
        model = NumpyMLP(BIG, lr=lr)
        while epochs_run < max_epochs and accuracy < target:
            model.lr = cosine_lr(lr, epochs_run, max_epochs)
            t0 = time.perf_counter()
            order = rng.permutation(len(x_train))
            for lo in range(0, len(x_train), batch):
                idx = order[lo : lo + batch]
                model.train_step(x_train[idx], y_train[idx])
            seconds_per_epoch.append(time.perf_counter() - t0)
            epochs_run += 1
            accuracy = float((model.predict(x_test).argmax(1) == y_test).mean())
    elif name == "sklearn":
        import warnings

        from sklearn.neural_network import MLPClassifier

        model = MLPClassifier(
            hidden_layer_sizes=BIG[1:-1],
            solver="sgd",
            batch_size=batch,
            learning_rate_init=lr,
            momentum=0.9,
            nesterovs_momentum=False,
            max_iter=1,
            shuffle=True,
            random_state=0,
            alpha=0.0,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            while epochs_run < max_epochs and accuracy < target:
                t0 = time.perf_counter()
                model.partial_fit(x_train, y_train, classes=np.arange(10))
                seconds_per_epoch.append(time.perf_counter() - t0)
                epochs_run += 1
                accuracy = float(model.score(x_test, y_test))
    total = time.perf_counter() - start
    peak_rss_mb = peak_rss_megabytes()
    print(
        json.dumps(
            dict(
                name=name,
                seconds=total,
                epochs=epochs_run,
                accuracy=accuracy,
                reached=accuracy >= target,
                peak_rss_mb=peak_rss_mb,
                seconds_per_epoch=float(np.median(seconds_per_epoch)),
                data_dtype=str(x_train.dtype),
                **blas_report,
            )
        )
    )


def peak_rss_megabytes():
    """This process's peak resident memory. VmHWM belongs to the process's own
    address space; ru_maxrss would also count the parent's image at fork time."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_mnist_case(names, max_epochs, target, data_dir):
    """{name: the worker's JSON} for each row, each run in a fresh process."""
    results = {}
    for name in names:
        cmd = [
            sys.executable,
            COMPARE_SCRIPT,
            "--mnist-worker",
            name,
            "--max-epochs",
            str(max_epochs),
            "--target",
            str(target),
        ]
        if data_dir:
            cmd += ["--data-dir", data_dir]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"  {name}: failed: {proc.stderr.strip().splitlines()[-1:]}")
            continue
        results[name] = json.loads(proc.stdout.strip().splitlines()[-1])
    return results


def mnist_case(quick, data_dir):
    """Run case 5 (one epoch with ``quick``), print its rows, return them."""
    names = list(FASTNN_ROWS) + (["pytorch"] if torch_available() else [])
    try:
        import sklearn  # noqa: F401

        names.append("sklearn")
    except ImportError:
        pass
    if not quick:
        names.append("numpy")
    max_epochs = 1 if quick else 10
    print(
        f"\ncase 5: MNIST to {'(1 epoch, quick)' if quick else '>= 98% test accuracy'}"
        " (784-512-512-10, SGD 0.05 m0.9, cosine, batch 128), own process each"
    )
    try:
        import fastnn as fnn

        directory = str(fnn.datasets.mnist_directory(data_dir))
        mnist = run_mnist_case(names, max_epochs, 0.98, directory)
    except Exception as exc:  # data missing: say so and go on
        mnist = {}
        print(f"  skipped: {exc}")
    base = mnist.get("fastnn")
    for name, r in mnist.items():
        if "error" in r:
            print(f"  {name:15s} not run: {r['error']}")
            continue
        line = (
            f"  {name:15s} {r['seconds']:7.2f} s  {r['epochs']} epochs  acc "
            f"{r['accuracy']:.4f}  {r['seconds_per_epoch']:.2f} s/epoch  peak RSS "
            f"{r['peak_rss_mb']:.0f} MB"
        )
        if "cpu_blas" in r:
            line += f"  ({r['data_dtype']}, BLAS {r['cpu_blas']})"
        if base and name != "fastnn":
            line += (
                f"  time fastnn/{name} = {base['seconds'] / r['seconds']:.3f}, "
                f"RSS = {base['peak_rss_mb'] / r['peak_rss_mb']:.3f}, per-epoch "
                f"= {base['seconds_per_epoch'] / r['seconds_per_epoch']:.3f}"
            )
        print(line)
    return mnist
