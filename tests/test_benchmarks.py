"""Smoke test: every asv benchmark and the comparison script run once.

Not for timing (speed is measured with asv and benchmarks/compare.py); this
keeps the suites from rotting.
"""

import importlib
import inspect
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULES = sorted(p.stem for p in (ROOT / "benchmarks").glob("bench_*.py"))
PREFIXES = ("time_", "peakmem_", "mem_", "track_")


def first_params(obj):
    params = getattr(obj, "params", None)
    if params is None:
        return ()
    if getattr(obj, "param_names", None) and len(obj.param_names) > 1:
        return tuple(p[0] for p in params)
    return (params[0],)


def benchmark_cases():
    sys.path.insert(0, str(ROOT))
    for name in MODULES:
        module = importlib.import_module(f"benchmarks.{name}")
        for attr, obj in vars(module).items():
            if inspect.isclass(obj) and obj.__module__ == module.__name__:
                for method in dir(obj):
                    if method.startswith(PREFIXES):
                        yield pytest.param(obj, method, id=f"{name}.{attr}.{method}")
            elif inspect.isfunction(obj) and attr.startswith(PREFIXES):
                yield pytest.param(obj, None, id=f"{name}.{attr}")


@pytest.mark.parametrize("target, method", list(benchmark_cases()))
def test_benchmark_runs_once(target, method):
    if method is None:
        result = target()
        assert result > 0
        return
    instance = target()
    args = first_params(target)
    try:
        if hasattr(instance, "setup"):
            instance.setup(*args)
    except NotImplementedError as exc:
        pytest.skip(str(exc))
    getattr(instance, method)(*args)


def test_every_benchmark_module_found():
    assert {"bench_dense", "bench_losses", "bench_optim", "bench_model"} <= set(MODULES)
    assert len(list(benchmark_cases())) >= 8


def test_compare_script_quick_cases(tmp_path, capsys):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    compare = importlib.import_module("compare")
    out = tmp_path / "results.json"
    table = tmp_path / "table.md"
    assert (
        compare.main(
            [
                "--quick",
                "--cases",
                "3,4,7",
                "--json",
                str(out),
                "--markdown",
                str(table),
            ]
        )
        == 0
    )
    results = json.loads(out.read_text())
    assert "| 3. train step 32-64-64-10, b32 |" in table.read_text()
    assert results["cases"]["3_train_small"]["seconds"]["fastnn"] > 0
    assert "numpy" in results["cases"]["4_infer_b1"]["seconds"]
    assert "| 7. fit, per step, 32-64-64-10, b32 |" in table.read_text()
    assert results["cases"]["7_fit_small"]["seconds"]["numpy"] > 0
    text = capsys.readouterr().out
    assert "case 3" in text and "fastnn/numpy" in text


def test_flop_count_skips_first_layer_input_gradient():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    compare = importlib.import_module("compare")
    # 2 layers: forward 2B(IH + HO), dW the same, dX only for the second layer
    b, i, h, o = 4, 3, 5, 2
    assert (
        compare.train_flops((i, h, o), b) == 2 * b * (i * h + h * o) * 2 + 2 * b * h * o
    )


def test_numpy_reference_mlp_trains():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    compare = importlib.import_module("compare")
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.random((64, 8), dtype=np.float32)
    y = (x[:, 0] > 0.5).astype(int)
    model = compare.NumpyMLP((8, 16, 2), lr=0.5)
    losses = [model.train_step(x, y) for _ in range(50)]
    assert losses[-1] < losses[0] / 2


def test_plain_mnist_loader_matches_fastnn(mnist_dir):
    """The other contenders read the same numbers without importing fastnn."""
    import fastnn as fnn

    sys.path.insert(0, str(ROOT / "benchmarks"))
    compare = importlib.import_module("compare")
    plain = compare.plain_mnist(str(mnist_dir))
    ours = fnn.datasets.load_mnist(mnist_dir)
    for (a_x, a_y), (b_x, b_y) in zip(plain, ours):
        assert a_x.dtype == b_x.dtype and a_y.dtype == b_y.dtype
        assert (a_x == b_x).all() and (a_y == b_y).all()


def test_written_out_cosine_schedule_matches_fastnn():
    import fastnn as fnn

    sys.path.insert(0, str(ROOT / "benchmarks"))
    compare = importlib.import_module("compare")
    schedule = fnn.CosineDecay(7)
    for epoch in range(9):
        assert compare.cosine_lr(0.05, epoch, 7) == schedule(0.05, epoch)


def test_mnist_worker_of_another_contender_does_not_import_fastnn(mnist_dir):
    import subprocess

    code = (
        "import sys; sys.argv = ['compare.py', '--mnist-worker', 'numpy', "
        f"'--max-epochs', '1', '--target', '0.5', '--data-dir', {str(mnist_dir)!r}]; "
        f"sys.path.insert(0, {str(ROOT / 'benchmarks')!r}); import compare; "
        "compare.main(sys.argv[1:]); "
        "assert 'fastnn' not in sys.modules and 'numba' not in sys.modules"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["name"] == "numpy" and result["epochs"] == 1
