"""Per-call cost of the public kernels' argument checks, before and after a change.

Times ``fastnn.kernels.dense_forward``, ``dense_backward`` and ``sgd_update``
at x (32, 32), w (32, 64) float32 with this checkout's checks and with a
baseline's (``kernels/_api.py`` and ``kernels/_checks.py`` from a git revision,
default HEAD, or from a directory holding copies of the two), alternating the
two in one process so both see the same machine state. Also times the
unchecked kernels and ``check_buffers`` alone, and prints medians in ns.

    python benchmarks/check_overhead.py [--baseline REV_OR_DIR]
"""

import argparse
import statistics
import subprocess
import sys
import timeit
import types
from pathlib import Path

import numpy as np

from fastnn import kernels
from fastnn.kernels import _checks, cpu

ROOT = Path(__file__).resolve().parents[1]


def _source(where, name):
    path = Path(where) / f"{name}.py"
    if path.is_file():
        return path.read_text()
    return subprocess.run(
        ["git", "show", f"{where}:kernels/{name}.py"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def _module(name, source):
    """Execute ``source`` as a module inside the kernels package, so its
    relative imports resolve there."""
    module = types.ModuleType(f"{kernels.__name__}.{name}")
    module.__package__ = kernels.__name__
    sys.modules[module.__name__] = module
    exec(compile(source, f"<baseline {name}.py>", "exec"), module.__dict__)
    return module


def load_baseline(where):
    """The baseline's public API module, using the baseline's checks."""
    _module("_baseline_checks", _source(where, "_checks"))
    api = _source(where, "_api").replace(
        "from ._checks import", "from ._baseline_checks import"
    )
    return _module("_baseline_api", api)


def cases(api):
    """(label, call) for one API module, on fresh float32 buffers."""
    r = np.random.default_rng(0)
    x = r.standard_normal((32, 32)).astype(np.float32)
    w = r.standard_normal((32, 64)).astype(np.float32)
    b = r.standard_normal(64).astype(np.float32)
    out = np.empty((32, 64), np.float32)
    dout = r.standard_normal((32, 64)).astype(np.float32)
    dx, dw, db = np.empty_like(x), np.empty_like(w), np.empty_like(b)
    grads = np.empty(w.size + b.size, np.float32)  # one flat buffer, as a model's
    flat_dw, flat_db = grads[: w.size].reshape(w.shape), grads[w.size :]
    velocity = np.zeros_like(w)
    return [
        ("dense_forward", lambda: api.dense_forward(x, w, b, out, "relu")),
        (
            "dense_backward",
            lambda: api.dense_backward(x, w, out, dout, dx, dw, db, "relu"),
        ),
        (
            "dense_backward, dw/db in one buffer",
            lambda: api.dense_backward(x, w, out, dout, dx, flat_dw, flat_db, "relu"),
        ),
        (
            "sgd_update",
            lambda: api.sgd_update(w, dw, velocity, 2, 1e-3, momentum=0.9),
        ),
    ]


def check_only():
    """The new buffer checks alone, as each call makes them."""
    x, w, b, out = (np.empty(s, np.float32) for s in ((32, 32), (32, 64), 64, (32, 64)))
    dout, dx, dw, db, v = (np.empty_like(a) for a in (out, x, w, b, w))
    grads = np.empty(w.size + b.size, np.float32)
    flat_dw, flat_db = grads[: w.size].reshape(w.shape), grads[w.size :]
    names = ("dout", "dx", "dw", "db", "x", "w", "out")
    return [
        (
            "dense_forward",
            lambda: _checks.check_buffers(("out", "x", "w", "b"), (out, x, w, b), 1),
        ),
        (
            "dense_backward",
            lambda: _checks.check_buffers(names, (dout, dx, dw, db, x, w, out), 4),
        ),
        (
            "dense_backward, dw/db in one buffer",
            lambda: _checks.check_buffers(
                names, (dout, dx, flat_dw, flat_db, x, w, out), 4
            ),
        ),
        (
            "sgd_update",
            lambda: _checks.check_buffers(("param", "velocity", "grad"), (w, v, dw), 2),
        ),
    ]


def per_call_ns(fn, number):
    return timeit.Timer(fn).timeit(number) / number * 1e9


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="HEAD", help="git revision or folder")
    parser.add_argument("--repeats", type=int, default=31)
    parser.add_argument("--number", type=int, default=2000)
    args = parser.parse_args()

    variants = {
        "unchecked": cases(cpu),
        "baseline": cases(load_baseline(args.baseline)),
        "this tree": cases(kernels),
        "check_buffers alone": check_only(),
    }
    times = {v: {label: [] for label, _ in calls} for v, calls in variants.items()}
    for _, calls in variants.items():
        for _, fn in calls:
            fn()  # compile (or load from the cache) outside the timing
    for _ in range(args.repeats):  # interleaved: drift hits every variant alike
        for variant, calls in variants.items():
            for label, fn in calls:
                times[variant][label].append(per_call_ns(fn, args.number))

    print(f"median ns per call over {args.repeats} x {args.number} calls")
    print(f"{'call':38s}" + "".join(f"{v:>21s}" for v in variants) + f"{'added':>9s}")
    for label, _ in variants["unchecked"]:
        medians = {v: statistics.median(times[v][label]) for v in variants}
        row = "".join(f"{medians[v]:21.0f}" for v in variants)
        added = medians["this tree"] - medians["baseline"]
        print(f"{label:38s}{row}{added:+9.0f}")


if __name__ == "__main__":
    main()
