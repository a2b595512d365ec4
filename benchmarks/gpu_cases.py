"""The step timings of ``gpu_check.py`` (its section 3): fastnn on the GPU
(CUDA graphs on and off) beside PyTorch CUDA (eager and graph-captured), in
one process, each cell timed on its own and recorded as it finishes.

Times are GPU-synchronised (numba's and torch's ``synchronize`` after each
round) medians over rounds. Columns of one case run one after another, not
interleaved. Importing this module needs neither fastnn, torch nor CuPy.
"""

import contextlib
import gc
import json
import time

import numpy as np

try:  # run from benchmarks/ by gpu_check.py
    import compare
except ImportError:  # imported as benchmarks.gpu_cases: asv imports every module
    from . import compare

#: (key, title, layer sizes, batch, steps per timed epoch, steps in --quick)
TRAIN_CASES = (
    ("b128", "784-512-512-10 b128 train step", compare.BIG, 128, 200, 50),
    ("b1024", "784-512-512-10 b1024 train step", compare.BIG, 1024, 50, 20),
    ("small_b32", "32-64-64-10 b32 train step", compare.SMALL, 32, 200, 50),
)
LARGE = (1024, 4096, 4096, 10)
LARGE_BATCH = 4096
LARGE_FIT_STEPS = 8


class Plan:
    """How much to repeat: full run, or ``quick`` for a rehearsal."""

    def __init__(self, quick=False):
        self.quick = quick
        self.fit_rounds = 2 if quick else 5
        self.predict_rounds, self.predict_calls = (5, 20) if quick else (15, 100)
        self.large_rounds, self.large_calls = (2, 2) if quick else (5, 4)

    def steps(self, case):
        return case[5] if self.quick else case[4]


def median_time(fn, sync, rounds, calls=1):
    """Median seconds per call of ``fn`` over ``rounds`` rounds of ``calls``
    calls, the GPU synchronised before and after each round."""
    sync()
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        sync()
        samples.append((time.perf_counter() - start) / calls)
    return float(np.median(samples))


def make_sync():
    """Wait for all GPU work: numba's context-wide synchronize (the package
    fastnn chose) and torch's when torch is importable."""
    from fastnn.kernels import _cuda_api

    numba_cuda = _cuda_api.cuda_module()
    torch_cuda = _torch_side()

    def sync():
        numba_cuda.synchronize()
        if torch_cuda is not None:
            torch_cuda.synchronize()

    return sync


@contextlib.contextmanager
def graphs_mode(mode):
    """fastnn's CUDA_GRAPHS switch ("auto" or "off") for the block; read when
    a fit starts, so a model measured in one mode is built and run in it."""
    from fastnn.kernels import _config

    before = _config.CUDA_GRAPHS
    _config.CUDA_GRAPHS = mode
    try:
        yield
    finally:
        _config.CUDA_GRAPHS = before


def _jsonable(value):
    return json.loads(json.dumps(value, default=str))


def _graph_report(model):
    report = getattr(model, "_graph_report", None)
    return None if report is None else _jsonable(report)


def _torch_side():
    """``torch_cuda`` (the PyTorch contenders), or None without torch (the
    module itself imports without it, for asv's discovery)."""
    try:
        import torch_cuda
    except ImportError:
        return None
    return torch_cuda if torch_cuda.torch is not None else None


def data(sizes, rows, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.random((rows, sizes[0]), dtype=np.float32)
    y = rng.integers(0, sizes[-1], rows)
    return x, y


def timed_once(fn, sync):
    sync()
    start = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - start


def fastnn_fit(sizes, batch, steps, mode, rounds, sync):
    """fastnn's ``fit`` per step in steady state: one-epoch and two-epoch fits
    on ``batch * steps`` host rows, alternated ``rounds`` times after a
    warm-up fit (compiles, captures); (median two-epoch time - median
    one-epoch time) / steps. The difference drops what each ``fit`` call pays
    once: the host-to-device copy of the data, recording the step graph
    (keyed on the data's device buffers, so once per call) and set-up; that
    fixed cost is kept as ``per_call_s``."""
    import fastnn  # noqa: F401 - fail here, in this cell, if it cannot load

    with graphs_mode(mode):
        model = compare.make_fastnn(sizes).to("cuda")
        x, y = data(sizes, batch * steps)

        def fit(epochs):
            model.fit(x, y, epochs=epochs, batch_size=batch, verbose=0, seed=0)

        fit(1)
        one, two = [], []
        for _ in range(rounds):
            one.append(timed_once(lambda: fit(1), sync))
            two.append(timed_once(lambda: fit(2), sync))
        one_s, two_s = float(np.median(one)), float(np.median(two))
        step_s = (two_s - one_s) / steps
        result = {
            "seconds": step_s,
            "fit_1_epoch_s": one_s,
            "fit_2_epochs_s": two_s,
            "per_call_s": one_s - steps * step_s,
            "raw_per_step_s": one_s / steps,
            "steps": steps,
            "graphs": mode,
            "graph_report": _graph_report(model),
        }
    model = None  # free its device buffers before the next cell
    gc.collect()
    return result


def fastnn_predict(sizes, x1, mode, plan, sync):
    with graphs_mode(mode):
        model = compare.make_fastnn(sizes).to("cuda")
        model.predict(x1)
        model.predict(x1)
        seconds = median_time(
            lambda: model.predict(x1), sync, plan.predict_rounds, plan.predict_calls
        )
        return {
            "seconds": seconds,
            "graphs": mode,
            "graph_report": _graph_report(model),
        }


def fastnn_train_on_batch(sizes, x, y, plan, sync):
    with graphs_mode("auto"):
        model = compare.make_fastnn(sizes).to("cuda")
        model.train_on_batch(x, y)
        model.train_on_batch(x, y)
        seconds = median_time(
            lambda: model.train_on_batch(x, y),
            sync,
            plan.large_rounds,
            plan.large_calls,
        )
        return {"seconds": seconds, "graph_report": _graph_report(model)}


def torch_epoch_cell(make_epoch, sizes, batch, steps, rounds, sync):
    x, y = data(sizes, batch * steps)
    epoch = make_epoch(sizes, batch, x, y)
    epoch()  # warm-up: cuBLAS handles, allocator, first replay
    seconds = median_time(epoch, sync, rounds)
    return {"seconds": seconds / steps, "epoch_s": seconds, "steps": steps}


def notes(plan):
    return [
        "fastnn fit columns: steady-state step of `fit(x, y, epochs=E, "
        "batch_size=B, verbose=0, seed=0)` on B*S random host float32 rows: "
        "(median fit with E=2 - median fit with E=1) / S, over "
        f"{plan.fit_rounds} alternated rounds after a warm-up fit. This leaves "
        "out what each fit call pays once (host-to-device copy of the data, "
        "recording the step graph, set-up), listed below as 'fixed cost per fit "
        "call'; `raw_per_step_s` in the JSON is the 1-epoch fit / S with it. "
        "Shuffled batches are gathered on the device. graphs = "
        "FASTNN_CUDA_GRAPHS auto (the default), eager = off.",
        "PyTorch eager: the data resident on the GPU, `torch.randperm` on the "
        "device each epoch, batches gathered by indexing (`x[idx]`), "
        "zero_grad/forward/loss/backward/SGD step; median of "
        f"{plan.fit_rounds} epochs of S steps / S.",
        "PyTorch graph: forward, loss, backward and SGD step on static input "
        "tensors captured with `torch.cuda.graph` after 3 warm-up steps on a "
        "side stream; per step the shuffled batch is copied into the static "
        "tensors (`x[idx]`, two copies) and the graph replayed. Timed after the "
        "other columns of every case.",
        "predict batch 1: NumPy in, NumPy out (host-to-device copy included for "
        f"all), median of {plan.predict_rounds} rounds of {plan.predict_calls} "
        "calls.",
        "1024-4096-4096-10 b4096: FP32 on both sides (torch TF32 off, "
        "CUPY_TF32 unset); fit step as above (steady state: the data already "
        "on the device) against PyTorch with the batch already on the GPU; "
        "train_on_batch against PyTorch copying the host batch every step. "
        "TFLOP/s from compare.train_flops.",
        "All float32, SGD lr 0.01 momentum 0.9, softmax cross-entropy.",
    ]


def run_steps(section, quick=False):
    """Fill ``section.results`` with ``cases`` (one dict per table row),
    saving after every cell; a failing cell records its error and the rest
    go on."""
    plan = Plan(quick)
    results = section.results
    results["plan"] = {k: v for k, v in vars(plan).items()}
    results["notes"] = notes(plan)
    cases = results.setdefault("cases", {})
    sync = make_sync()
    torch_cuda = _torch_side()
    if torch_cuda is None:  # still time fastnn
        results["torch"] = {"error": "torch not importable"}
    else:
        results["torch_settings"] = torch_cuda.setup()

    def torch_only(fn):
        if torch_cuda is None:
            raise RuntimeError("torch is not importable")
        return fn()

    def torch_cell(key, case, sizes, batch, steps, name, col):
        section.attempt(
            f"{key}/{col}",
            lambda: torch_only(
                lambda: torch_epoch_cell(
                    getattr(torch_cuda, name),
                    sizes,
                    batch,
                    steps,
                    plan.fit_rounds,
                    sync,
                )
            ),
            case,
            col,
        )

    for spec in TRAIN_CASES:
        key, title, sizes, batch = spec[:4]
        steps = plan.steps(spec)
        case = cases.setdefault(key, {"title": title, "batch": batch})
        case["gflop"] = compare.train_flops(sizes, batch) / 1e9
        for mode, col in (("auto", "fastnn_graphs"), ("off", "fastnn_eager")):
            section.attempt(
                f"{key}/{col}",
                lambda: fastnn_fit(sizes, batch, steps, mode, plan.fit_rounds, sync),
                case,
                col,
            )
        torch_cell(key, case, sizes, batch, steps, "eager_epoch", "torch_eager")
    x1 = np.random.default_rng(2).random((1, compare.BIG[0]), dtype=np.float32)
    case = cases.setdefault(
        "predict_b1", {"title": "784-512-512-10 predict batch 1 (host in, host out)"}
    )
    for mode, col in (("auto", "fastnn_graphs"), ("off", "fastnn_eager")):
        section.attempt(
            f"predict_b1/{col}",
            lambda: fastnn_predict(compare.BIG, x1, mode, plan, sync),
            case,
            col,
        )
    for name, col in (
        ("eager_predict", "torch_eager"),
        ("graph_predict", "torch_graph"),
    ):

        def torch_predict():
            fn = getattr(torch_cuda, name)(compare.BIG, x1)
            fn()
            seconds = median_time(fn, sync, plan.predict_rounds, plan.predict_calls)
            return {"seconds": seconds}

        section.attempt(
            f"predict_b1/{col}", lambda: torch_only(torch_predict), case, col
        )

    run_large(section, cases, plan, sync, torch_cuda, torch_only)
    # captured PyTorch steps last: a failure there can leave the CUDA context
    # unusable for what follows
    for spec in TRAIN_CASES:
        key, _, sizes, batch = spec[:4]
        steps = plan.steps(spec)
        torch_cell(key, cases[key], sizes, batch, steps, "graph_epoch", "torch_graph")
    return results


def run_large(section, cases, plan, sync, torch_cuda, torch_only):
    """The 1024-4096-4096-10 batch-4096 rows: fit step and train_on_batch."""
    gflop = compare.train_flops(LARGE, LARGE_BATCH) / 1e9
    title = f"{'-'.join(map(str, LARGE))} b{LARGE_BATCH}"
    fit_case = cases.setdefault(
        "large_fit",
        {"title": f"{title} fit step (device-resident)", "gflop": gflop},
    )
    fit_case["show_flops"] = True
    tob_case = cases.setdefault(
        "large_tob",
        {"title": f"{title} train_on_batch (host input)", "gflop": gflop},
    )
    tob_case["show_flops"] = True
    section.attempt(
        "large_fit/fastnn_graphs",
        lambda: fastnn_fit(
            LARGE, LARGE_BATCH, LARGE_FIT_STEPS, "auto", plan.fit_rounds, sync
        ),
        fit_case,
        "fastnn_graphs",
    )
    x, y = data(LARGE, LARGE_BATCH)
    section.attempt(
        "large_tob/fastnn_graphs",
        lambda: fastnn_train_on_batch(LARGE, x, y, plan, sync),
        tob_case,
        "fastnn_graphs",
    )
    steps = {}

    def torch_large(which):
        if "fns" not in steps:
            steps["fns"] = torch_cuda.large_steps(LARGE, x, y)
        fn = steps["fns"][which]
        fn()
        fn()
        return {"seconds": median_time(fn, sync, plan.large_rounds, plan.large_calls)}

    section.attempt(
        "large_fit/torch_eager",
        lambda: torch_only(lambda: torch_large(0)),
        fit_case,
        "torch_eager",
    )
    section.attempt(
        "large_tob/torch_eager",
        lambda: torch_only(lambda: torch_large(1)),
        tob_case,
        "torch_eager",
    )
    steps.clear()
    gc.collect()
