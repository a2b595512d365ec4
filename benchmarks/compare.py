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
"""

import argparse
import functools
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
BIG = (784, 512, 512, 10)
SMALL = (32, 64, 64, 10)
THREADS = 2


# ------------------------------------------------------------------ FLOPs
def train_flops(sizes, batch):
    pairs = list(zip(sizes, sizes[1:]))
    forward = sum(2 * batch * i * o for i, o in pairs)
    d_weights = forward
    d_inputs = sum(2 * batch * i * o for i, o in pairs[1:])
    return forward + d_weights + d_inputs


def matmul_peak_gflops(n=4096, repeats=5):
    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    b = a.copy()
    a @ b
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    return 2 * n**3 / np.median(times) / 1e9


# ------------------------------------------------------------ contenders
def he_weights(sizes, seed=0):
    rng = np.random.default_rng(seed)
    return [
        (
            (rng.standard_normal((i, o)) * np.sqrt(2 / i)).astype(np.float32),
            np.zeros(o, np.float32),
        )
        for i, o in zip(sizes, sizes[1:])
    ]


class NumpyMLP:
    """The same MLP in plain NumPy: ReLU hidden layers, softmax cross-entropy,
    torch-style SGD with momentum."""

    def __init__(self, sizes, lr=0.01, momentum=0.9, seed=0):
        self.params = [p for pair in he_weights(sizes, seed) for p in pair]
        self.velocity = [np.zeros_like(p) for p in self.params]
        self.lr, self.momentum, self.steps = lr, momentum, 0

    def forward(self, x):
        acts = [x]
        n_layers = len(self.params) // 2
        for k in range(n_layers):
            z = acts[-1] @ self.params[2 * k] + self.params[2 * k + 1]
            acts.append(np.maximum(z, 0) if k < n_layers - 1 else z)
        return acts

    def train_step(self, x, y):
        acts = self.forward(x)
        logits = acts[-1]
        shifted = logits - logits.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        probs = exp / exp.sum(axis=1, keepdims=True)
        rows = np.arange(len(y))
        loss = -np.log(probs[rows, y]).mean()
        grad = probs
        grad[rows, y] -= 1
        grad /= len(y)
        grads = [None] * len(self.params)
        for k in range(len(self.params) // 2 - 1, -1, -1):
            grads[2 * k] = acts[k].T @ grad
            grads[2 * k + 1] = grad.sum(axis=0)
            if k > 0:
                grad = (grad @ self.params[2 * k].T) * (acts[k] > 0)
        self.steps += 1
        for p, g, v in zip(self.params, grads, self.velocity):
            if self.steps == 1:
                v[...] = g
            else:
                v *= self.momentum
                v += g
            p -= self.lr * v
        return float(loss)

    def predict(self, x):
        return self.forward(x)[-1]


def make_fastnn(sizes, lr=0.01, seed=0, schedule=None):
    import fastnn as fnn

    layers = [
        fnn.Dense(i, o, activation="relu") for i, o in zip(sizes[:-2], sizes[1:-1])
    ]
    layers.append(fnn.Dense(sizes[-2], sizes[-1], init="he"))
    model = fnn.Sequential(layers)
    model.build(seed)
    model.set_weights(
        np.concatenate(
            [p.reshape(-1) for pair in he_weights(sizes, seed) for p in pair]
        )
    )
    model.compile(
        optimizer=fnn.SGD(lr=lr, momentum=0.9, schedule=schedule),
        loss="cross_entropy",
        metrics=["accuracy"],
    )
    return model


def make_torch(sizes, lr=0.01, seed=0):
    import torch

    torch.set_num_threads(THREADS)
    layers = []
    for k, (w, b) in enumerate(he_weights(sizes, seed)):
        linear = torch.nn.Linear(*w.shape)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(w.T.copy()))
            linear.bias.copy_(torch.from_numpy(b))
        layers.append(linear)
        if k < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    return model, optimizer


def torch_available():
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


# The matrix products alone: what BLAS needs for the same work, timed beside
# the contenders so each run measures the floor under fastnn's step.
FLOOR = "products"


@functools.lru_cache(maxsize=None)  # compile once per run, not once per case
def _products_kernel():
    from numba import njit

    from fastnn.kernels.cpu.gemm import matmul

    @njit(cache=False)
    def run(xs, ws, outs, dws, dxs, backward):
        n = len(ws)
        for k in range(n):
            matmul(xs[k], ws[k], outs[k])
        if backward:
            for k in range(n - 1, -1, -1):
                matmul(xs[k].T, outs[k], dws[k])
                if k > 0:
                    matmul(outs[k], ws[k].T, dxs[k])

    return run


def products_only(sizes, batch, backward=True):
    """A callable doing only the matrix products of a training step (forward,
    dW, and dX but for the first layer) or of inference (``backward=False``),
    with the BLAS fastnn's kernels use (MKL or OpenBLAS), same shapes and order."""
    rng = np.random.default_rng(4)
    pairs = list(zip(sizes, sizes[1:]))
    ws = tuple(rng.standard_normal((i, o), dtype=np.float32) for i, o in pairs)
    outs = tuple(np.zeros((batch, o), np.float32) for _, o in pairs)
    xs = (rng.random((batch, sizes[0]), dtype=np.float32),) + outs[:-1]
    dws = tuple(np.empty_like(w) for w in ws)
    dxs = tuple(np.empty((batch, i), np.float32) for i, _ in pairs)
    run = _products_kernel()
    return lambda: run(xs, ws, outs, dws, dxs, backward)


def train_step_contenders(sizes, batch, include_numpy=True, floor=False):
    """{name: zero-argument callable doing one training step}; with ``floor``
    also the step's matrix products alone (not a contender)."""
    rng = np.random.default_rng(1)
    x = rng.random((batch, sizes[0]), dtype=np.float32)
    y = rng.integers(0, sizes[-1], batch)
    model = make_fastnn(sizes)
    contenders = {"fastnn": lambda: model.train_on_batch(x, y)}
    if floor:
        contenders[FLOOR] = products_only(sizes, batch)
    if torch_available():
        import torch

        tmodel, topt = make_torch(sizes)
        tx, ty = torch.from_numpy(x), torch.from_numpy(y)
        loss_fn = torch.nn.CrossEntropyLoss()

        def torch_step():
            topt.zero_grad(set_to_none=True)
            loss = loss_fn(tmodel(tx), ty)
            loss.backward()
            topt.step()

        contenders["pytorch"] = torch_step
    if include_numpy:
        npm = NumpyMLP(sizes)
        contenders["numpy"] = lambda: npm.train_step(x, y)
    return contenders


def fit_epoch_contenders(sizes, batch, steps):
    """{name: callable running one shuffled epoch of ``steps`` mini-batches}, as
    users write them: fastnn's ``fit``, PyTorch's randperm + index + step loop,
    NumPy's permutation loop (the data start as float32 arrays in memory)."""
    rng = np.random.default_rng(3)
    n = batch * steps
    x = rng.random((n, sizes[0]), dtype=np.float32)
    y = rng.integers(0, sizes[-1], n)
    model = make_fastnn(sizes)
    contenders = {
        "fastnn": lambda: model.fit(x, y, epochs=1, batch_size=batch, verbose=0)
    }
    if torch_available():
        import torch

        tmodel, topt = make_torch(sizes)
        tx, ty = torch.from_numpy(x), torch.from_numpy(y)
        loss_fn = torch.nn.CrossEntropyLoss()

        def torch_epoch():
            order = torch.randperm(n)
            for lo in range(0, n, batch):
                idx = order[lo : lo + batch]
                topt.zero_grad(set_to_none=True)
                loss_fn(tmodel(tx[idx]), ty[idx]).backward()
                topt.step()

        contenders["pytorch"] = torch_epoch
    npm = NumpyMLP(sizes)

    def numpy_epoch():
        order = rng.permutation(n)
        for lo in range(0, n, batch):
            idx = order[lo : lo + batch]
            npm.train_step(x[idx], y[idx])

    contenders["numpy"] = numpy_epoch
    return contenders


def inference_contenders(sizes, floor=False):
    x = np.random.default_rng(2).random((1, sizes[0]), dtype=np.float32)
    model = make_fastnn(sizes)
    contenders = {"fastnn": lambda: model.predict(x)}
    if floor:
        contenders[FLOOR] = products_only(sizes, 1, backward=False)
    if torch_available():
        import torch

        tmodel, _ = make_torch(sizes)
        tx = torch.from_numpy(x)

        def torch_infer():
            with torch.inference_mode():
                return tmodel(tx)

        contenders["pytorch"] = torch_infer
    npm = NumpyMLP(sizes)
    contenders["numpy"] = lambda: npm.predict(x)
    return contenders


def interleaved(contenders, rounds, calls, settle=0.3, rewarm=2):
    """Median seconds per call of each contender, A B C A B C ... by round.

    Before each timed block the process sleeps ``settle`` seconds: the thread
    pools of the previous contender (OpenBLAS pthreads, PyTorch's OpenMP) spin
    after their last parallel region, and would otherwise steal the cores from
    the next contender's first calls. Then ``rewarm`` untimed calls wake the
    contender's own pool: the first call after an idle pause is slow (see
    ``first_call_after_idle``), and a training loop never pauses.
    """
    for fn in contenders.values():  # warm up: JIT, allocator, caches
        for _ in range(max(3, calls // 4)):
            fn()
    samples = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, fn in contenders.items():
            time.sleep(settle)
            for _ in range(rewarm):
                fn()
            start = time.perf_counter()
            for _ in range(calls):
                fn()
            samples[name].append((time.perf_counter() - start) / calls)
    return {name: float(np.median(s)) for name, s in samples.items()}


def first_call_after_idle(contenders, rounds, idle=0.3):
    """Median seconds of one call made after ``idle`` seconds without work
    (BLAS thread pools have gone to sleep by then), per contender."""
    samples = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, fn in contenders.items():
            fn()
            time.sleep(idle)
            start = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - start)
    return {name: float(np.median(s)) for name, s in samples.items()}


def dense_layer_contenders(batch, n_in=784, n_out=512):
    """dense_forward + dense_backward (ReLU, float32) against the same math in NumPy."""
    from fastnn import kernels

    rng = np.random.default_rng(3)
    x = rng.standard_normal((batch, n_in)).astype(np.float32)
    w = (rng.standard_normal((n_in, n_out)) / np.sqrt(n_in)).astype(np.float32)
    b = rng.standard_normal(n_out).astype(np.float32)
    grad = rng.standard_normal((batch, n_out)).astype(np.float32)
    out, dout = (
        np.empty((batch, n_out), np.float32),
        np.empty((batch, n_out), np.float32),
    )
    dx, dw, db = np.empty_like(x), np.empty_like(w), np.empty_like(b)

    def fastnn_layer():
        kernels.dense_forward(x, w, b, out, activation="relu")
        np.copyto(dout, grad)  # dense_backward overwrites dout
        kernels.dense_backward(x, w, out, dout, dx, dw, db, activation="relu")

    def numpy_layer():
        y = np.maximum(x @ w + b, 0)
        dz = grad * (y > 0)
        return dz @ w.T, x.T @ dz, dz.sum(axis=0)

    return {"fastnn": fastnn_layer, "numpy": numpy_layer}


# ----------------------------------------------------------------- MNIST
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


def mnist_worker(name, max_epochs, target, data_dir):
    """Train the shared recipe until test accuracy >= target; print JSON.

    ``data_dir`` must hold the MNIST files (the parent process resolves it).
    """
    start = time.perf_counter()
    if name == "fastnn":
        import fastnn as fnn

        (x_train, y_train), (x_test, y_test) = fnn.datasets.load_mnist(data_dir)
    else:
        (x_train, y_train), (x_test, y_test) = plain_mnist(data_dir)
    batch, lr, epochs_run, accuracy = 128, 0.05, 0, 0.0
    seconds_per_epoch = []
    rng = np.random.default_rng(0)
    if name == "fastnn":
        model = make_fastnn(BIG, lr=lr, schedule=fnn.CosineDecay(max_epochs))
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
    results = {}
    for name in names:
        cmd = [
            sys.executable,
            __file__,
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


# -------------------------------------------------------------- startup
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


# ------------------------------------------------------------------ main
def fmt_time(seconds):
    if seconds < 1e-3:
        return f"{seconds * 1e6:8.1f} us"
    if seconds < 1:
        return f"{seconds * 1e3:8.2f} ms"
    return f"{seconds:8.2f} s "


def print_case(title, times, flops=None, peak=None):
    print(f"\n{title}")
    base = times.get("fastnn")
    for name, seconds in times.items():
        line = f"  {name:8s} {fmt_time(seconds)}"
        if flops:
            gflops = flops / seconds / 1e9
            line += f"  {gflops:7.1f} GFLOP/s ({100 * gflops / peak:4.1f}% of peak)"
        if name == FLOOR:
            line += f"  the matrix products alone: {100 * seconds / base:.0f}% of fastnn's time"
        elif base is not None and name != "fastnn":
            line += f"  fastnn/{name} = {base / seconds:.3f}"
        print(line)


def versions():
    info = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu": platform.processor() or "unknown",
        "cores": os.cpu_count(),
        "numpy": np.__version__,
    }
    try:
        with open("/proc/cpuinfo") as f:
            names = [
                line.split(":", 1)[1].strip()
                for line in f
                if line.startswith("model name")
            ]
        info["cpu"] = names[0] if names else info["cpu"]
    except OSError:
        pass
    import numba

    import fastnn

    info.update(
        fastnn=fastnn.__version__,
        numba=numba.__version__,
        cpu_blas=fastnn.kernels.cpu_blas(),
    )
    if torch_available():
        import torch

        info["torch"] = torch.__version__
    return info


def main(argv=None):
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
        default="kernels,1,2,3,4,7,8,5,6,startup",
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

    for key, title, sizes, batch, steps in [
        ("7_fit_small", "case 7: fit epoch 32-64-64-10, batch 32", SMALL, 32, 200),
        ("8_fit_b128", "case 8: fit epoch 784-512-512-10, batch 128", BIG, 128, 20),
    ]:
        if key[0] not in cases:
            continue
        epochs = interleaved(fit_epoch_contenders(sizes, batch, steps), rounds, 1)
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


def markdown_table(results):
    """The README's results table: median times and fastnn/other ratios."""
    v = results["versions"]
    lines = [
        f"Measured {results['date']} on {v['cpu']} ({v['cores']} cores), Python "
        f"{v['python']}, fastnn {v['fastnn']} (CPU BLAS: {v.get('cpu_blas', '?')}), "
        f"numba {v['numba']}, NumPy {v['numpy']}, "
        f"PyTorch {v.get('torch', 'not installed')}; float32 matmul peak "
        f"{results['peak_gflops']:.0f} GFLOP/s. Ratio = fastnn time / other time "
        "(below 1: fastnn is faster). Matrix products alone: the same shapes' "
        "BLAS products by themselves, in the same run (share of fastnn's time).",
        "",
        "| case | fastnn | PyTorch | NumPy | fastnn/PyTorch | fastnn/NumPy | "
        "matrix products alone |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    titles = {
        "dense_layer_b128": "dense_forward+backward 128x784->512",
        "dense_layer_b1024": "dense_forward+backward 1024x784->512",
        "1_train_b128": "1. train step 784-512-512-10, b128",
        "2_train_b1024": "2. train step 784-512-512-10, b1024",
        "3_train_small": "3. train step 32-64-64-10, b32",
        "4_infer_b1": "4. inference latency, batch 1",
        "7_fit_small": "7. fit, per step, 32-64-64-10, b32",
        "8_fit_b128": "8. fit, per step, 784-512-512-10, b128",
    }
    cases = results["cases"]
    for key, title in titles.items():
        if key not in cases:
            continue
        t = cases[key]["seconds"]
        cells = [
            fmt_time(t[n]).strip() if n in t else "-"
            for n in ("fastnn", "pytorch", "numpy")
        ]
        ratios = [
            f"{t['fastnn'] / t[n]:.2f}" if n in t else "-" for n in ("pytorch", "numpy")
        ]
        if "gflops" in cases[key]:
            cells[0] += f" ({cases[key]['gflops']['fastnn']:.0f} GFLOP/s)"
        floor = (
            f"{fmt_time(t[FLOOR]).strip()} ({100 * t[FLOOR] / t['fastnn']:.0f}%)"
            if FLOOR in t
            else "-"
        )
        lines.append(f"| {title} | " + " | ".join(cells + ratios + [floor]) + " |")
    mnist = cases.get("5_mnist") or {}
    if "fastnn" in mnist:
        base = mnist["fastnn"]
        lines += [
            "",
            "| 5. MNIST to 98% | time | epochs | s/epoch | peak RSS | fastnn/other time | "
            "fastnn/other RSS | fastnn/other per epoch |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for name, r in mnist.items():
            rel = (
                ("-", "-", "-")
                if name == "fastnn"
                else (
                    f"{base['seconds'] / r['seconds']:.2f}",
                    f"{base['peak_rss_mb'] / r['peak_rss_mb']:.2f}",
                    f"{base['seconds_per_epoch'] / r['seconds_per_epoch']:.2f}",
                )
            )
            lines.append(
                f"| {name} | {r['seconds']:.1f} s | {r['epochs']} | "
                f"{r['seconds_per_epoch']:.2f} | {r['peak_rss_mb']:.0f} MB | "
                + " | ".join(rel)
                + " |"
            )
    if "startup" in results:
        lines += [
            "",
            f"Cold JIT compile (empty cache, import + first steps): "
            f"{results['startup']['cold_s']:.1f} s; warm start: "
            f"{results['startup']['warm_s']:.2f} s.",
        ]
    return "\n".join(lines)


def mnist_case(quick, data_dir):
    names = ["fastnn"] + (["pytorch"] if torch_available() else [])
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
        line = (
            f"  {name:8s} {r['seconds']:7.2f} s  {r['epochs']} epochs  acc "
            f"{r['accuracy']:.4f}  {r['seconds_per_epoch']:.2f} s/epoch  peak RSS "
            f"{r['peak_rss_mb']:.0f} MB"
        )
        if base and name != "fastnn":
            line += (
                f"  time fastnn/{name} = {base['seconds'] / r['seconds']:.3f}, "
                f"RSS = {base['peak_rss_mb'] / r['peak_rss_mb']:.3f}, per-epoch "
                f"= {base['seconds_per_epoch'] / r['seconds_per_epoch']:.3f}"
            )
        print(line)
    return mnist


def scaling_case(quick, plot):
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
