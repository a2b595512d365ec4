"""Smoke test: every asv benchmark and the comparison script run once.

Not for timing (speed is measured with asv and benchmarks/compare.py); this
keeps the suites from rotting.
"""

import importlib
import inspect
import json
import subprocess
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


def test_dropout_fit_contenders_train_with_dropout():
    """Case 9's epochs: fastnn's and PyTorch's networks carry the Dropout
    (NumPy's loop has none and is left out)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    compare = importlib.import_module("compare")
    contenders = compare.fit_epoch_contenders((6, 8, 8, 3), 4, 3, dropout=0.2)
    assert "numpy" not in contenders and "fastnn" in contenders
    for epoch in contenders.values():
        epoch()
    model = compare.make_fastnn((6, 8, 8, 3), dropout=0.2)
    assert [type(layer).__name__ for layer in model.layers] == [
        "Dense", "Dropout", "Dense", "Dropout", "Dense"
    ]  # fmt: skip


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


def run_mnist_worker(name, mnist_dir):
    """One MNIST row as compare.py runs it: a fresh process, one epoch."""
    code = (
        f"import sys; sys.path.insert(0, {str(ROOT / 'benchmarks')!r}); "
        "import compare; compare.main(sys.argv[1:])"
    )
    args = ["--mnist-worker", name, "--max-epochs", "1", "--target", "0.5"]
    proc = subprocess.run(
        [sys.executable, "-c", code, *args, "--data-dir", str(mnist_dir)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_mnist_worker_trains_fastnn_on_raw_uint8_images(mnist_dir):
    result = run_mnist_worker("fastnn-uint8", mnist_dir)
    assert result["name"] == "fastnn-uint8" and result["data_dtype"] == "uint8"
    assert result["epochs"] == 1 and result["reached"] and result["accuracy"] >= 0.5
    assert result["cpu_blas"] in ("mkl", "openblas") and result["peak_rss_mb"] > 0


def test_mnist_worker_of_float32_fastnn_names_its_data_and_blas(mnist_dir):
    result = run_mnist_worker("fastnn", mnist_dir)
    assert result["data_dtype"] == "float32" and "cpu_blas_requested" not in result
    assert result["cpu_blas"] in ("mkl", "openblas") and result["epochs"] == 1


@pytest.mark.parametrize("blas", ["openblas", "mkl"])
def test_mnist_worker_with_a_forced_blas_reports_the_blas_it_ran(mnist_dir, blas):
    result = run_mnist_worker(f"fastnn-{blas}", mnist_dir)
    assert result["name"] == f"fastnn-{blas}"
    assert result["cpu_blas_requested"] == blas
    if "error" in result:  # only MKL may be missing: said so, nothing timed
        assert blas == "mkl" and "MKL" in result["error"]
        assert "seconds" not in result
        return
    assert result["cpu_blas"] == blas and result["data_dtype"] == "float32"
    assert result["epochs"] == 1 and result["reached"]


def test_forced_blas_other_than_the_loaded_one_is_reported_not_timed(
    monkeypatch, capsys
):
    """fastnn already imported with one BLAS cannot switch: the row says so."""
    from fastnn import kernels

    sys.path.insert(0, str(ROOT / "benchmarks"))
    compare = importlib.import_module("compare")
    other = {"mkl": "openblas", "openblas": "mkl"}[kernels.cpu_blas()]
    monkeypatch.setenv("FASTNN_CPU_BLAS", kernels.cpu_blas())  # restored after
    compare.mnist_worker(f"fastnn-{other}", 1, 0.5, "no data read")
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["cpu_blas_requested"] == other and "seconds" not in result
    assert f"already runs {kernels.cpu_blas()}" in result["error"]


def test_markdown_table_lists_every_mnist_row():
    """fastnn rows name the BLAS that ran; a forced BLAS that could not run
    shows as not run; ratios are fastnn's row over each other row."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    compare = importlib.import_module("compare")
    row = {"seconds": 6.0, "epochs": 5, "seconds_per_epoch": 1.0, "peak_rss_mb": 400}
    mnist = {
        "fastnn": {**row, "cpu_blas": "mkl"},
        "fastnn-uint8": {**row, "peak_rss_mb": 200, "cpu_blas": "mkl"},
        "fastnn-mkl": {"cpu_blas_requested": "mkl", "error": "no MKL"},
        "fastnn-openblas": {**row, "seconds": 12.0, "cpu_blas": "openblas"},
        "pytorch": {**row, "seconds": 3.0},
    }
    assert set(mnist) >= set(compare.FASTNN_ROWS)
    versions = dict(cpu="cpu", cores=2, python="3", fastnn="0", numba="0", numpy="2")
    results = {"date": "today", "versions": versions, "peak_gflops": 100.0}
    lines = compare.markdown_table({**results, "cases": {"5_mnist": mnist}})
    expected = [
        "| fastnn (mkl) | 6.0 s | 5 | 1.00 | 400 MB | - | - | - |",
        "| fastnn-uint8 (mkl) | 6.0 s | 5 | 1.00 | 200 MB | 1.00 | 2.00 | 1.00 |",
        "| fastnn-mkl | not run: FASTNN_CPU_BLAS=mkl unavailable |" + " - |" * 6,
        "| fastnn-openblas (openblas) | 12.0 s | 5 | 1.00 | 400 MB | 0.50 | 1.00 | 1.00 |",
        "| pytorch | 3.0 s | 5 | 1.00 | 400 MB | 2.00 | 1.00 | 1.00 |",
    ]
    assert lines.splitlines()[-len(expected) :] == expected


# ------------------------------------------------- gpu_check.py (no GPU here)
def gpu_module(name):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    return importlib.import_module(name)


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_gpu_check_imports_without_torch_cupy_or_fastnn():
    import subprocess

    code = (
        f"import sys; sys.path.insert(0, {str(ROOT / 'benchmarks')!r}); "
        "import gpu_check, gpu_cases, gpu_report, gpu_run, gpu_sections, "
        "torch_mnist_cuda; "
        "bad = {'torch', 'cupy', 'fastnn', 'numba'} & set(sys.modules); "
        "assert not bad, bad"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_gpu_check_help_runs_as_a_script():
    import subprocess

    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--help"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    for flag in ("--out", "--data-dir", "--skip-tests", "--skip-mnist", "--quick"):
        assert flag in proc.stdout


def test_gpu_check_arguments(monkeypatch):
    gpu_check = gpu_module("gpu_check")
    monkeypatch.setenv("OUT", "/somewhere/out")
    args = gpu_check.build_parser().parse_args([])
    assert args.out == "/somewhere/out" and args.data_dir is None
    assert not (args.skip_tests or args.skip_mnist or args.quick)
    assert args.budget == gpu_check.BUDGET and sum(gpu_check.CAPS.values()) < 300
    monkeypatch.delenv("OUT")
    args = gpu_check.build_parser().parse_args(
        ["--data-dir", "d", "--skip-tests", "--skip-mnist", "--quick", "--out", "o"]
    )
    assert (args.data_dir, args.out) == ("d", "o")
    assert args.skip_tests and args.skip_mnist and args.quick
    assert gpu_check.build_parser().parse_args([]).out.endswith("gpu_results")


def test_gpu_check_section_records_an_error_and_the_run_goes_on(tmp_path):
    gpu_run = gpu_module("gpu_run")
    run = gpu_run.Run(tmp_path, budget=100)

    def broken(section):
        section.results["partial"] = 1
        raise ValueError("boom")

    run.section("first", broken, cap=10)
    saved = json.loads((tmp_path / "gpu_check.json").read_text())
    assert saved["first"]["error"] == "ValueError: boom"
    assert "boom" in saved["first"]["traceback"] and saved["first"]["partial"] == 1
    assert saved["sections"]["first"]["status"] == "error"
    run.section("second", lambda s: s.results.update(value=2), cap=10)
    saved = json.loads((tmp_path / "gpu_check.json").read_text())
    assert saved["second"] == {"value": 2}
    assert saved["sections"]["second"]["status"] == "ok"
    assert gpu_module("gpu_check").exit_status(saved) == 1


def test_gpu_check_cells_fail_alone_and_each_is_saved(tmp_path):
    gpu_run = gpu_module("gpu_run")
    run = gpu_run.Run(tmp_path, budget=100)
    seen = []

    def cells(section):
        case = section.results.setdefault("case", {})
        section.attempt("a", lambda: 1 / 0, case, "fastnn")
        seen.append(json.loads((tmp_path / "gpu_check.json").read_text()))
        section.attempt("b", lambda: {"seconds": 0.5}, case, "torch")

    run.section("steps", cells, cap=10)
    assert "ZeroDivisionError" in seen[0]["steps"]["case"]["fastnn"]["error"]
    saved = json.loads((tmp_path / "gpu_check.json").read_text())
    assert saved["steps"]["case"]["torch"] == {"seconds": 0.5}
    assert saved["sections"]["steps"]["status"] == "ok"


def test_gpu_check_time_cap_stops_a_section_between_cells(tmp_path):
    gpu_run = gpu_module("gpu_run")
    clock = FakeClock()
    run = gpu_run.Run(tmp_path, budget=100, clock=clock)

    def slow(section):
        section.attempt("one", lambda: setattr(clock, "now", clock.now + 30) or 1)
        section.attempt("two", lambda: 2)

    run.section("steps", slow, cap=20, later=80)  # cap 20: no slack yet
    saved = json.loads((tmp_path / "gpu_check.json").read_text())
    assert saved["steps"]["one"] == 1 and "two" not in saved["steps"]
    assert "before two" in saved["steps"]["error"]
    assert saved["sections"]["steps"]["status"] == "timeout"
    clock.now = 100  # the budget is spent: later sections are skipped
    run.section("mnist", lambda s: s.results.update(ran=True), cap=50)
    saved = json.loads((tmp_path / "gpu_check.json").read_text())
    assert "ran" not in saved["mnist"] and "skipped" in saved["mnist"]["error"]


def test_gpu_check_unused_time_goes_to_later_sections():
    gpu_run = gpu_module("gpu_run")
    clock = FakeClock()
    run = gpu_run.Run(None, budget=100, clock=clock)
    deadlines = []
    record = lambda s: deadlines.append(s.deadline)  # noqa: E731
    run.section("a", record, cap=10, later=50)  # 100 left, 50 kept back
    clock.now = 95
    run.section("b", record, cap=10)  # only 5 left
    assert deadlines == [50, 100]


def test_gpu_check_pytest_summary():
    gpu_sections = gpu_module("gpu_sections")
    output = "....F\nFAILED tests/x.py::t - boom\n= 1 failed, 79 passed, 2 skipped in 17.21s ="
    line, counts = gpu_sections.pytest_summary(output)
    assert line == "1 failed, 79 passed, 2 skipped in 17.21s"
    assert counts == {"failed": 1, "passed": 79, "skipped": 2}
    assert gpu_sections.pytest_summary("1 error in 0.2s")[1] == {"errors": 1}
    assert gpu_sections.pytest_summary("crashed\nSegfault") == ("Segfault", {})
    assert gpu_sections.pytest_summary("")[0] == "(no output)"


def test_gpu_check_commit_falls_back_to_a_commit_file(tmp_path):
    gpu_sections = gpu_module("gpu_sections")
    assert gpu_sections.git_commit(tmp_path) == "unknown"
    (tmp_path / "COMMIT").write_text("abc123\n")
    assert gpu_sections.git_commit(tmp_path) == "abc123"


def test_gpu_check_mnist_commands_use_existing_options(tmp_path):
    """The fastnn CLI and the PyTorch script both accept what gpu_check passes
    (argparse exits on an unknown flag)."""
    from fastnn import cli

    gpu_sections = gpu_module("gpu_sections")
    fastnn_cmd, torch_cmd = gpu_sections.mnist_commands(str(tmp_path), 5)
    assert fastnn_cmd[1:3] == ["-m", "fastnn"]
    args = cli.build_parser().parse_args(fastnn_cmd[3:])
    assert (args.device, args.epochs, args.batch_size, args.lr) == (
        "cuda",
        5,
        128,
        0.05,
    )
    assert (args.hidden, args.schedule, args.momentum) == ([512, 512], "cosine", 0.9)
    torch_mnist = gpu_module("torch_mnist_cuda")
    args = torch_mnist.build_parser().parse_args(torch_cmd[2:])
    assert (args.data_dir, args.epochs) == (str(tmp_path), 5)


def test_gpu_check_finds_mnist(tmp_path, monkeypatch):
    gpu_sections = gpu_module("gpu_sections")
    monkeypatch.delenv("FASTNN_DATA_DIR", raising=False)
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"")
    assert gpu_sections.find_mnist(str(tmp_path)) == str(tmp_path.resolve())
    with pytest.raises(FileNotFoundError, match="nowhere"):
        gpu_sections.find_mnist(str(tmp_path / "nowhere"))


def gpu_results():
    cell = {"seconds": 150e-6, "per_call_s": 0.012, "graph_report": {"fit": "captured"}}
    return {
        "sections": {"steps": {"status": "ok", "seconds": 80.0}},
        "environment": {
            "gpu": "NVIDIA H100 80GB HBM3",
            "date": "2026-12-01T10:00:00+00:00",
            "commit": "abc123",
            "cuda_package": "numba-cuda",
            "versions": {"python": "3.12.3", "torch": "2.11.0+cu130"},
        },
        "tests": {
            "numba-cuda": {"summary": "79 passed in 17.2s", "returncode": 0},
            "numba-cuda-mlir": {"error": "TimeoutError: killed"},
        },
        "steps": {
            "notes": ["a footnote"],
            "cases": {
                "b128": {
                    "title": "784-512-512-10 b128 train step",
                    "gflop": 1.0,
                    "fastnn_graphs": cell,
                    "fastnn_eager": {"seconds": 2.07e-3},
                    "torch_eager": {"seconds": 1.5e-3},
                    "torch_graph": {"error": "RuntimeError: capture failed"},
                },
                "large_fit": {
                    "title": "1024-4096-4096-10 b4096 fit step",
                    "gflop": 400.0,
                    "show_flops": True,
                    "fastnn_graphs": {"seconds": 0.02},
                    "torch_eager": {"seconds": 0.016},
                },
            },
        },
        "mnist": {
            "epochs": 5,
            "fastnn_cold": {"seconds": 30.0, "fit_s": 8.0, "accuracy": 0.981},
            "fastnn_warm": {"seconds": 10.0, "fit_s": 7.0, "accuracy": 0.981},
            "pytorch": {"error": "RuntimeError: pytorch: exit status 1"},
        },
    }


def test_gpu_report_table():
    report = gpu_module("gpu_report").report(gpu_results())
    lines = report.splitlines()
    assert lines[0] == "# fastnn vs PyTorch on NVIDIA H100 80GB HBM3"
    assert "fastnn commit abc123" in report and "torch 2.11.0+cu130" in report
    assert (
        "| 784-512-512-10 b128 train step | 150 µs | 2.07 ms | 1.50 ms | error "
        "| 0.10 | - |" in lines
    )
    assert (
        "| 1024-4096-4096-10 b4096 fit step | 20.0 ms (20.0 TFLOP/s) | - "
        "| 16.0 ms (25.0 TFLOP/s) | - | 1.25 | - |" in lines
    )
    assert "- a footnote" in lines
    assert "- 784-512-512-10 b128 train step, fastnn graphs: 12.0 ms" in lines
    assert "- numba-cuda: 79 passed in 17.2s (exit status 0)" in lines
    assert "| fastnn CLI, same cache again (warm) | 10.0 s | 7.00 s | 0.9810 |" in lines
    assert "| PyTorch CUDA eager (torch_mnist_cuda.py) | error | - | - |" in lines
    assert "- steps/cases/b128/torch_graph: RuntimeError: capture failed" in lines
    assert "- tests/numba-cuda-mlir: TimeoutError: killed" in lines


def test_gpu_report_survives_partial_results():
    gpu_report = gpu_module("gpu_report")
    assert "(no step timings)" in gpu_report.report({})
    assert "(no step timings)" in gpu_report.report({"steps": {"error": "x"}})
    skipped = {"tests": {"skipped": True}, "mnist": {"skipped": True}}
    text = gpu_report.report(skipped)
    assert "CUDA tests: skipped" in text and "MNIST: skipped" in text
    assert [gpu_report.fmt_seconds(s) for s in (12.3, 2.071e-3, 153e-6, None)] == [
        "12.3 s",
        "2.07 ms",
        "153 µs",
        "-",
    ]


def test_gpu_check_prints_a_saved_run(tmp_path, capsys):
    gpu_check = gpu_module("gpu_check")
    path = tmp_path / "gpu_check.json"
    path.write_text(json.dumps(gpu_results()))
    assert gpu_check.main(["--from-json", str(path)]) == 0
    assert "| 784-512-512-10 b128 train step |" in capsys.readouterr().out


def test_gpu_check_without_a_gpu_records_errors_and_writes_everything(tmp_path):
    """The whole script on a machine with neither GPU nor torch: every cell
    fails on its own, the JSON and the table are still written."""
    import subprocess

    from fastnn import kernels

    if kernels.cuda_unavailable_reason() is None:
        pytest.skip("a GPU is here: this would run the real timings")
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "gpu_check.py"),
            "--skip-tests",
            "--skip-distributed",
            "--skip-mnist",
            "--quick",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1, proc.stderr
    saved = json.loads((tmp_path / "gpu_check.json").read_text())
    assert set(saved["sections"]) == {"environment", "steps"}
    assert saved["environment"]["versions"]["numpy"]
    assert "info" in saved["environment"]["fastnn"]
    cases = saved["steps"]["cases"]
    assert set(cases) == {
        "b128",
        "b1024",
        "small_b32",
        "predict_b1",
        "large_fit",
        "large_tob",
    }
    assert all(
        "error" in cases["b128"][col] for col in ("fastnn_graphs", "torch_graph")
    )
    assert ">> steps" in proc.stdout and "<< steps" in proc.stdout
    assert (tmp_path / "gpu_check.md").read_text().startswith("# fastnn vs PyTorch")


def test_gpu_check_times_a_process_and_reads_its_last_json_line(tmp_path):
    gpu_sections = gpu_module("gpu_sections")
    code = 'print("noise"); print(\'{"test_accuracy": 0.98, "wall_time_s": 1.5, "epochs": 5}\')'
    cmd = [sys.executable, "-c", code]
    result = gpu_sections.timed_process("run", cmd, None, 60, tmp_path)
    assert (result["accuracy"], result["fit_s"], result["epochs"]) == (0.98, 1.5, 5)
    assert result["seconds"] > 0 and "noise" in (tmp_path / "mnist_run.log").read_text()
    failing = [sys.executable, "-c", "import sys; sys.exit('bad data')"]
    with pytest.raises(RuntimeError, match="exit status 1: bad data"):
        gpu_sections.timed_process("run", failing, None, 60, tmp_path)
    sleeping = [sys.executable, "-c", "import time; time.sleep(30)"]
    with pytest.raises(TimeoutError, match="killed after 1 s"):
        gpu_sections.timed_process("run", sleeping, None, 1, tmp_path)


def test_every_benchmark_module_imports_without_the_optional_libraries():
    """asv imports every module of ``benchmarks/`` to discover benchmarks, in an
    environment with fastnn's own dependencies only: scripts that need torch,
    scikit-learn, ONNX or CuPy must import them lazily or tolerate their
    absence, or the whole asv suite fails to load."""
    code = (
        "import importlib, pkgutil, sys\n"
        "for name in ('torch', 'sklearn', 'onnx', 'onnxruntime', 'cupy', 'pandas'):\n"
        "    sys.modules[name] = None\n"
        "import benchmarks\n"
        "for m in pkgutil.iter_modules(benchmarks.__path__, 'benchmarks.'):\n"
        "    importlib.import_module(m.name)\n"
    )
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-2000:]
