"""fastnn.sklearn against scikit-learn's MLP: seconds per epoch of ``fit``.

    python benchmarks/sklearn_compare.py [--quick] [--repeats N]

Both estimators get the same hyperparameters and data in one process with the
same threads; fits alternate (sklearn, fastnn, sklearn, ...) and the table
shows medians. Beside them, the matrix products alone of one epoch (forward,
dW, dX, in the data's dtype, with fastnn's BLAS): scikit-learn's epoch over
that time is the largest speed-up any implementation on this BLAS can reach. Epoch time = fit time / n_iter_, with ``tol=0`` and
``n_iter_no_change`` large so every fit runs ``max_iter`` epochs. 'lbfgs'
rows report the time of the whole fit. On machines that set
OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, unset both for this command
(``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python ...``).
"""

import argparse
import os
import statistics
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from fastnn.datasets import load_mnist  # noqa: E402

try:
    from sklearn import neural_network
    from sklearn.datasets import load_digits, make_classification
    from sklearn.exceptions import ConvergenceWarning

    from fastnn import sklearn as fast
except ImportError:  # asv imports every module here; running needs scikit-learn
    neural_network = None


def cases(quick):
    """(name, X, y, parameters, per_epoch) for each row of the table."""
    digits_x, digits_y = load_digits(return_X_y=True)
    digits_x = digits_x / 16.0
    n_big = 20_000 if quick else 200_000
    big_x, big_y = make_classification(n_big, 50, n_informative=30, random_state=0)
    stochastic = dict(tol=0.0, n_iter_no_change=10**6, random_state=0)
    yield (
        "digits (100,) adam b=auto",
        digits_x,
        digits_y,
        dict(hidden_layer_sizes=(100,), max_iter=40, **stochastic),
        True,
    )
    yield (
        f"make_classification({n_big:_}, 50) (100,) sgd b=auto",
        big_x,
        big_y,
        dict(hidden_layer_sizes=(100,), solver="sgd", max_iter=2, **stochastic),
        True,
    )
    try:
        (mnist_x, mnist_y), _ = load_mnist(download=False)
    except (OSError, ValueError) as error:
        print(f"MNIST skipped: {error}")
    else:
        if quick:
            mnist_x, mnist_y = mnist_x[:6000], mnist_y[:6000]
        yield (
            f"MNIST {len(mnist_x)}x784 (256,128) adam b=128",
            mnist_x.astype(np.float64),
            mnist_y,
            dict(
                hidden_layer_sizes=(256, 128), batch_size=128, max_iter=1, **stochastic
            ),
            True,
        )
        # float32 data: both libraries then train in float32
        yield (
            f"MNIST {len(mnist_x)}x784 float32 (256,128) adam b=128",
            mnist_x.astype(np.float32),
            mnist_y,
            dict(
                hidden_layer_sizes=(256, 128), batch_size=128, max_iter=1, **stochastic
            ),
            True,
        )
    yield (
        "digits (100,) lbfgs 100 iterations",
        digits_x,
        digits_y,
        dict(hidden_layer_sizes=(100,), solver="lbfgs", max_iter=100, random_state=0),
        False,
    )


def _products_kernel():
    from numba import njit

    from fastnn.kernels.cpu.gemm import matmul

    @njit(cache=False)
    def run(xs, ws, outs, dws, dxs):
        n = len(ws)
        for k in range(n):
            matmul(xs[k], ws[k], outs[k])
        for k in range(n - 1, -1, -1):
            matmul(xs[k].T, outs[k], dws[k])
            if k > 0:
                matmul(outs[k], ws[k].T, dxs[k])

    return run


def products_floor(sizes, batch, n_rows, dtype, repeats=30):
    """Seconds per epoch of the matrix products alone: for every batch the
    forward products, dW and dX (but the first layer's) with fastnn's BLAS,
    in ``dtype``; the best of one and two BLAS threads. No implementation of
    the same training on this BLAS does less work per epoch, so
    scikit-learn's epoch / this is the largest speed-up the products allow."""
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(4)
    pairs = list(zip(sizes, sizes[1:]))
    ws = tuple(rng.standard_normal((i, o)).astype(dtype) for i, o in pairs)
    outs = tuple(np.zeros((batch, o), dtype) for _, o in pairs)
    xs = (rng.random((batch, sizes[0])).astype(dtype),) + outs[:-1]
    dws = tuple(np.empty_like(w) for w in ws)
    dxs = tuple(np.empty((batch, i), dtype) for i, _ in pairs)
    run = _products_kernel()
    best = float("inf")
    for threads in (1, 2):
        with threadpool_limits(threads):
            run(xs, ws, outs, dws, dxs)
            samples = []
            for _ in range(repeats):
                start = time.perf_counter()
                run(xs, ws, outs, dws, dxs)
                samples.append(time.perf_counter() - start)
        best = min(best, statistics.median(samples))
    return best * n_rows / batch


def network_sizes(X, y, params):
    """Layer widths of the estimator's network (a binary target has one
    logistic output, as in scikit-learn)."""
    classes = len(np.unique(y))
    out = 1 if classes == 2 else classes
    return (X.shape[1], *params.get("hidden_layer_sizes", (100,)), out)


def grid_search_seconds(cls, X, y, quick):
    """Seconds of a GridSearchCV over 8 candidates (3-fold, 2 jobs) on X, y."""
    from sklearn.model_selection import GridSearchCV

    grid = {
        "hidden_layer_sizes": [(64,), (100,)],
        "alpha": [1e-4, 1e-3],
        "learning_rate_init": [1e-3, 3e-3],
    }
    estimator = cls(max_iter=3 if quick else 20, tol=0.0, random_state=0)
    search = GridSearchCV(estimator, grid, cv=3, n_jobs=2)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(X, y)
    return time.perf_counter() - start


def timed_fit(cls, X, y, params):
    estimator = cls(**params)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator.fit(X, y)
    return time.perf_counter() - start, estimator


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small data, one repeat")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    if neural_network is None:
        raise SystemExit('needs scikit-learn: pip install ".[sklearn]" from the clone')
    repeats = 1 if args.quick else args.repeats
    rows = []
    for name, X, y, params, per_epoch in cases(args.quick):
        # first fits compile fastnn's kernels for this dtype and warm caches
        small = dict(params, max_iter=1)
        timed_fit(fast.MLPClassifier, X[:256], y[:256], small)
        times = {"sklearn": [], "fastnn": []}
        for _ in range(repeats):
            for label, cls in (
                ("sklearn", neural_network.MLPClassifier),
                ("fastnn", fast.MLPClassifier),
            ):
                seconds, estimator = timed_fit(cls, X, y, params)
                times[label].append(
                    seconds / estimator.n_iter_ if per_epoch else seconds
                )
        ref, ours = (statistics.median(times[k]) for k in ("sklearn", "fastnn"))
        unit = "s/epoch" if per_epoch else "s/fit"
        floor = None
        if per_epoch:
            batch = params.get("batch_size", "auto")
            batch = min(200, len(X)) if batch == "auto" else batch
            floor = products_floor(network_sizes(X, y, params), batch, len(X), X.dtype)
        rows.append((name, unit, ref, ours, floor))
        print(f"{name}: sklearn {ref:.4f} {unit}, fastnn {ours:.4f} {unit}", flush=True)
    # a whole model search, as users run one: worker processes included
    digits_x, digits_y = load_digits(return_X_y=True)
    digits_x = digits_x / 16.0
    times = {"sklearn": [], "fastnn": []}
    for _ in range(repeats):
        for label, cls in (
            ("sklearn", neural_network.MLPClassifier),
            ("fastnn", fast.MLPClassifier),
        ):
            times[label].append(
                grid_search_seconds(cls, digits_x, digits_y, args.quick)
            )
    ref, ours = (statistics.median(times[k]) for k in ("sklearn", "fastnn"))
    name = "digits GridSearchCV, 8 candidates x 3 folds, n_jobs=2, adam 20 epochs"
    rows.append((name, "s/search", ref, ours, None))
    print(f"{name}: sklearn {ref:.4f} s, fastnn {ours:.4f} s", flush=True)
    print()
    print(
        "| case | unit | scikit-learn | fastnn.sklearn | speed-up "
        "| products alone | largest speed-up the products allow |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, unit, ref, ours, floor in rows:
        bound = f"{floor:.4f} | {ref / floor:.2f}x" if floor else "| "
        print(
            f"| {name} | {unit} | {ref:.4f} | {ours:.4f} | {ref / ours:.2f}x "
            f"| {bound} |"
        )


if __name__ == "__main__":
    main()
