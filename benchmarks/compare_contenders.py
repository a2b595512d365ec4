"""The contenders of ``compare.py``'s timed cases: for each case a dict of
zero-argument callables, one per library, doing the same float32 work, and
the matrix products alone (``FLOOR``) as the floor under fastnn's time.
"""

import functools

import numpy as np

try:  # run from benchmarks/ (compare.py as a script)
    from compare_models import NumpyMLP, make_fastnn, make_torch, torch_available
except (
    ImportError
):  # imported as benchmarks.compare_contenders: asv imports every module
    from .compare_models import NumpyMLP, make_fastnn, make_torch, torch_available

# The matrix products alone: what BLAS needs for the same work, timed beside
# the contenders so each run measures the floor under fastnn's step.
FLOOR = "products"


@functools.lru_cache(maxsize=None)  # compile once per run, not once per case
def _products_kernel():
    """A Numba function doing a step's products with fastnn's own ``matmul``."""
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


def fit_epoch_contenders(sizes, batch, steps, dropout=None):
    """{name: callable running one shuffled epoch of ``steps`` mini-batches}, as
    users write them: fastnn's ``fit``, PyTorch's randperm + index + step loop,
    NumPy's permutation loop (the data start as float32 arrays in memory).
    With ``dropout`` (a rate after each hidden layer) NumPy's loop is left
    out: it has no dropout."""
    rng = np.random.default_rng(3)
    n = batch * steps
    x = rng.random((n, sizes[0]), dtype=np.float32)
    y = rng.integers(0, sizes[-1], n)
    model = make_fastnn(sizes, dropout=dropout)
    contenders = {
        "fastnn": lambda: model.fit(x, y, epochs=1, batch_size=batch, verbose=0)
    }
    if torch_available():
        import torch

        tmodel, topt = make_torch(sizes, dropout=dropout)
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
    if dropout is not None:
        return contenders
    npm = NumpyMLP(sizes)

    def numpy_epoch():
        order = rng.permutation(n)
        for lo in range(0, n, batch):
            idx = order[lo : lo + batch]
            npm.train_step(x[idx], y[idx])

    contenders["numpy"] = numpy_epoch
    return contenders


def inference_contenders(sizes, floor=False):
    """{name: callable predicting one sample}; with ``floor`` also the
    forward products alone."""
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
