"""PyTorch CUDA contenders for ``gpu_check.py``: the same MLPs, weights,
optimizer (SGD lr 0.01, momentum 0.9) and loss as ``compare.make_torch``,
on the GPU, eager and captured as a CUDA graph.

Each ``*_epoch`` function builds a model and returns a callable that runs
one epoch of ``steps`` training steps; the caller times it (GPU-synchronised)
and divides by ``steps``. Imported only on the GPU machine: it imports torch.
"""

import gc

import numpy as np

try:  # run from benchmarks/ by gpu_check.py
    import compare
except ImportError:  # imported as benchmarks.torch_cuda: asv imports every module
    from . import compare
try:
    import torch
except ImportError:  # only asv's discovery imports this module without torch
    torch = None


def setup():
    """Full FP32 matrix products (no TF32), as fastnn's cuBLAS calls through
    CuPy do without CUPY_TF32."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    return {
        "matmul.allow_tf32": torch.backends.cuda.matmul.allow_tf32,
        "cudnn.allow_tf32": torch.backends.cudnn.allow_tf32,
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
    }


def synchronize():
    torch.cuda.synchronize()


def release_earlier_graphs():
    """Free what earlier cases left on the device before recording a graph."""
    gc.collect()
    torch.cuda.synchronize()
    torch.cuda.empty_cache()


def model_on_gpu(sizes, lr=0.01):
    """compare.make_torch's model on the GPU, with its optimizer made after
    the move (the parameters it holds are the CUDA ones)."""
    model, _ = compare.make_torch(sizes, lr=lr)
    model = model.cuda()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    return model, optimizer


def _on_device(x, y):
    return torch.from_numpy(x).cuda(), torch.from_numpy(y).cuda()


def eager_epoch(sizes, batch, x, y):
    """An epoch as a user writes it: the data resident on the device, a
    shuffled permutation drawn there, each batch gathered by indexing."""
    model, optimizer = model_on_gpu(sizes)
    loss_fn = torch.nn.CrossEntropyLoss()
    xs, ys = _on_device(x, y)
    n = len(x)

    def epoch():
        order = torch.randperm(n, device="cuda")
        for lo in range(0, n, batch):
            idx = order[lo : lo + batch]
            optimizer.zero_grad(set_to_none=True)
            loss_fn(model(xs[idx]), ys[idx]).backward()
            optimizer.step()

    return epoch


def graph_epoch(sizes, batch, x, y, warmup=3):
    """The same epoch with the whole step captured by ``torch.cuda.graph``
    (PyTorch's "whole network capture" recipe: warm-up on a side stream,
    ``zero_grad(set_to_none=True)`` before capture so backward allocates the
    gradients from the graph's pool, then forward, loss, backward and
    ``optimizer.step()`` captured on static input tensors). Each step copies
    its shuffled batch into those tensors (two copy kernels, as the recipe
    does) and replays. SGD needs no ``capturable=True`` (Adam would).

    Whatever an earlier case left (its graph, model, buffers) is released
    first: on an H100 with PyTorch 2.11, replaying the b1024 step recorded
    while the b128 case's graph was still alive overwrote the epoch's
    ``randperm`` indices (float data in int64 memory, then a device-side
    assert in the gather); recorded after ``gc.collect()``, a sync and
    ``empty_cache()``, the b128, b1024 and b32 cases ran one after another."""
    release_earlier_graphs()
    model, optimizer = model_on_gpu(sizes)
    loss_fn = torch.nn.CrossEntropyLoss()
    xs, ys = _on_device(x, y)
    n = len(x)
    static_x, static_y = xs[:batch].clone(), ys[:batch].clone()

    def step():
        loss = loss_fn(model(static_x), static_y)
        loss.backward()
        optimizer.step()
        return loss

    torch.cuda.synchronize()
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(warmup):
            optimizer.zero_grad(set_to_none=True)
            step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    optimizer.zero_grad(set_to_none=True)
    with torch.cuda.graph(graph):
        step()

    def epoch():
        order = torch.randperm(n, device="cuda")
        for lo in range(0, n - batch + 1, batch):
            idx = order[lo : lo + batch]
            static_x.copy_(xs[idx])
            static_y.copy_(ys[idx])
            graph.replay()

    epoch.graph = graph  # keep it alive with the closure
    return epoch


def eager_predict(sizes, x1):
    """Batch-1 inference from a NumPy array to a NumPy array."""
    model, _ = model_on_gpu(sizes)
    model.eval()

    def predict():
        with torch.inference_mode():
            return model(torch.from_numpy(x1).cuda()).cpu().numpy()

    return predict


def graph_predict(sizes, x1, warmup=3):
    """The forward pass captured as a CUDA graph; each call copies the host
    input into the static input tensor, replays and copies the output back."""
    model, _ = model_on_gpu(sizes)
    model.eval()
    static_in = torch.from_numpy(np.ascontiguousarray(x1)).cuda()
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.no_grad():
        with torch.cuda.stream(side):
            for _ in range(warmup):
                model(static_in)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static_out = model(static_in)

    def predict():
        static_in.copy_(torch.from_numpy(x1))
        graph.replay()
        return static_out.cpu().numpy()

    predict.graph = graph
    return predict


def large_steps(sizes, x, y):
    """One full-batch step on (x, y): (device-resident, host input) callables
    sharing one model. Host input copies both arrays to the GPU every call."""
    model, optimizer = model_on_gpu(sizes)
    loss_fn = torch.nn.CrossEntropyLoss()
    xs, ys = _on_device(x, y)

    def step(xb, yb):
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(xb), yb).backward()
        optimizer.step()

    def device_resident():
        step(xs, ys)

    def host_input():
        step(*_on_device(x, y))

    return device_resident, host_input
