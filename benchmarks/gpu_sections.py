"""Sections of ``gpu_check.py`` other than the step timings (those are in
``gpu_cases.py``): the environment, fastnn's CUDA tests on the device (a
pytest subprocess per CUDA package), data-parallel training of GPU models
under ``mpiexec`` against one CPU process (``gpu_distributed.py``), and
MNIST end to end (the fastnn CLI with a cold then warm kernel cache, and
``torch_mnist_cuda.py``), each a subprocess timed whole."""

import datetime
import importlib
import importlib.metadata
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gpu_run import HERE, ROOT, child_env, ensure_fastnn, log, text_of

LOG_LINES = 200


def git_commit(root=ROOT):
    try:
        proc = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        )
        if proc.returncode == 0 and proc.stdout.strip():
            return proc.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    commit_file = Path(root) / "COMMIT"
    if commit_file.is_file():
        return commit_file.read_text().strip() or "unknown"
    return "unknown"


def uncommitted_files(root=ROOT):
    """How many files differ from the commit (``git status``), or None."""
    try:
        proc = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return len(proc.stdout.splitlines()) if proc.returncode == 0 else None


def module_version(module, dist=None):
    """A version string, or "not importable: ..." (importing the module)."""
    try:
        mod = importlib.import_module(module)
    except Exception as exc:
        return f"not importable: {type(exc).__name__}: {exc}"[:200]
    if dist:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    return str(getattr(mod, "__version__", "unknown"))


def environment(section):
    env = section.results
    env["date"] = datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec="seconds"
    )
    env["commit"] = git_commit()
    env["uncommitted_files"] = uncommitted_files()
    env["argv"] = sys.argv
    env["cpus"] = os.cpu_count()
    env["versions"] = versions = {"python": platform.python_version()}
    for module, dist, name in (
        ("numpy", None, "numpy"),
        ("scipy", None, "scipy"),
        ("numba", None, "numba"),
        ("numba.cuda", "numba-cuda", "numba-cuda"),
        ("cupy", None, "cupy"),
        ("torch", None, "torch"),
    ):
        versions[name] = module_version(module, dist)
    versions["numba-cuda-mlir"] = mlir_version()
    env["fastnn_env"] = {
        k: v for k, v in os.environ.items() if k.startswith(("FASTNN_", "NUMBA_"))
    }
    section.attempt("nvidia-smi", nvidia_smi, env, "nvidia_smi")
    section.attempt("torch.cuda", torch_device, env, "torch_cuda")
    if isinstance(env.get("torch_cuda"), dict) and env["torch_cuda"].get("gpu"):
        env["gpu"] = env["torch_cuda"]["gpu"]
    section.attempt("fastnn", fastnn_info, env, "fastnn")
    fastnn_env = env.get("fastnn") or {}
    env["cuda_package"] = fastnn_env.get("cuda_package", "?")
    env.setdefault("gpu", fastnn_env.get("gpu", "unknown GPU"))
    log(
        f"   {env.get('gpu')}; kernels by {env['cuda_package']}; commit {env['commit']}"
    )


def mlir_version():
    """numba-cuda-mlir's version if it imports, checked in a subprocess so
    this process loads only the package fastnn chooses."""
    from importlib.util import find_spec

    if find_spec("numba_cuda_mlir") is None:
        return "not installed"
    code = "import numba_cuda_mlir, importlib.metadata as m; "
    code += "print(m.version('numba-cuda-mlir'))"
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=60,
            env=child_env(),
        )
    except subprocess.TimeoutExpired:
        return "import timed out"
    if proc.returncode == 0:
        return proc.stdout.strip()
    tail = proc.stderr.strip().splitlines()[-1:] or ["?"]
    return f"not importable: {tail[0]}"[:200]


def nvidia_smi():
    proc = subprocess.run(
        [
            "nvidia-smi",
            "--query-gpu=name,driver_version,memory.total,clocks.max.sm",
            "--format=csv,noheader",
        ],
        capture_output=True,
        text=True,
        timeout=20,
    )
    return (proc.stdout or proc.stderr).strip()


def torch_device():
    import torch

    info = {"cuda": torch.version.cuda, "available": torch.cuda.is_available()}
    if info["available"]:
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def fastnn_info():
    fastnn = ensure_fastnn()
    from fastnn.cli import info_lines
    from fastnn.kernels import _cuda_api

    out = {"file": fastnn.__file__, "info": info_lines()}
    out["cuda_package"] = _cuda_api.package()
    try:
        dev = _cuda_api.cuda_module().get_current_device()
        out["gpu"] = dev.name.decode() if isinstance(dev.name, bytes) else dev.name
    except Exception as exc:  # keep the lines above
        out["gpu_error"] = f"{type(exc).__name__}: {exc}"[:300]
    return out


# ------------------------------------------------------------------ tests
def pytest_summary(output):
    """The last pytest summary line ("79 passed, 2 skipped in 17.1s") and its
    counts; the last line of output when there is none."""
    lines = [line.strip("= ").strip() for line in output.strip().splitlines()]
    pattern = re.compile(r"\b(\d+) (passed|failed|errors?|skipped|xfailed|xpassed)\b")
    for line in reversed(lines):
        found = pattern.findall(line)
        if found or line.startswith("no tests ran"):
            counts = {}
            for number, word in found:
                word = "errors" if word.startswith("error") else word
                counts[word] = counts.get(word, 0) + int(number)
            return line, counts
    return (lines[-1] if lines else "(no output)"), {}


def cuda_packages():
    """The CUDA packages to test with: numba-cuda, and numba-cuda-mlir when
    it is installed."""
    from importlib.util import find_spec

    names = ["numba-cuda"]
    if find_spec("numba_cuda_mlir") is not None:
        names.append("numba-cuda-mlir")
    return names


def run_tests(section, out_dir, packages=None):
    packages = packages or cuda_packages()
    for k, package in enumerate(packages):
        share = section.left() / (len(packages) - k)  # the rest split evenly
        section.attempt(
            package, lambda: run_tests_with(package, max(share, 1), out_dir)
        )


def run_tests_with(package, timeout, out_dir):
    cmd = [sys.executable, "-m", "pytest", "tests/cuda", "-q", "-p", "no:cacheprovider"]
    start = time.perf_counter()
    env = child_env(FASTNN_CUDA_PACKAGE=package)
    try:
        proc = subprocess.run(
            cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
        )
        output, code = proc.stdout + proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as exc:
        output = (
            text_of(exc.stdout)
            + text_of(exc.stderr)
            + f"\n(killed after {timeout:.0f} s)"
        )
        code = "timeout"
    tail = output.strip().splitlines()[-LOG_LINES:]
    logfile = None
    if out_dir:
        logfile = Path(out_dir) / f"cuda_tests_{package}.log"
        logfile.write_text("\n".join(tail) + "\n")
    summary, counts = pytest_summary(output)
    if code == "timeout":
        summary = f"timed out after {timeout:.0f} s ({summary})"
    log(f"   CUDA tests with {package}: {summary}")
    return {
        "summary": summary,
        "counts": counts,
        "returncode": code,
        "seconds": time.perf_counter() - start,
        "log": logfile.name if logfile else None,
    }


# ------------------------------------------------------------------ MNIST
def find_mnist(data_dir):
    """--data-dir (which must hold the files), else $FASTNN_DATA_DIR, else
    .data/ or ../shared/data/mnist."""
    if data_dir:
        candidates = [data_dir]
    else:
        candidates = [os.environ.get("FASTNN_DATA_DIR"), ROOT / ".data"]
        candidates.append(ROOT.parent / "shared" / "data" / "mnist")
    for candidate in candidates:
        if candidate and (Path(candidate) / "train-images-idx3-ubyte.gz").exists():
            return str(Path(candidate).resolve())
    if data_dir:
        raise FileNotFoundError(f"{data_dir}: no train-images-idx3-ubyte.gz there")
    raise FileNotFoundError("no MNIST .gz files found: pass --data-dir DIR")


def mnist_commands(data_dir, epochs):
    fastnn = [sys.executable, "-m", "fastnn", "train", "--device", "cuda"]
    fastnn += ["--hidden", "512,512", "--optimizer", "sgd", "--lr", "0.05"]
    fastnn += ["--momentum", "0.9", "--schedule", "cosine", "--batch-size", "128"]
    fastnn += ["--epochs", str(epochs), "--seed", "0", "--data-dir", data_dir]
    fastnn += ["--json", "--quiet"]
    torch = [sys.executable, str(HERE / "torch_mnist_cuda.py")]
    torch += ["--data-dir", data_dir, "--epochs", str(epochs)]
    return fastnn, torch


def timed_process(name, cmd, env, timeout, out_dir):
    """Run ``cmd``; wall seconds and the JSON object on its last stdout line."""
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired as exc:
        output = text_of(exc.stdout) + text_of(exc.stderr)
        if out_dir:
            (Path(out_dir) / f"mnist_{name}.log").write_text(output[-20000:])
        raise TimeoutError(f"{name}: killed after {timeout:.0f} s") from None
    seconds = time.perf_counter() - start
    if out_dir:
        text = proc.stdout[-20000:] + "\n--- stderr ---\n" + proc.stderr[-20000:]
        (Path(out_dir) / f"mnist_{name}.log").write_text(text)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"{name}: exit status {proc.returncode}: {' | '.join(tail)}")
    last = json.loads(proc.stdout.strip().splitlines()[-1])
    return {
        "seconds": seconds,
        "fit_s": last.get("wall_time_s", last.get("fit_s")),
        "epochs": last.get("epochs"),
        "accuracy": last.get("test_accuracy", last.get("accuracy")),
        "output": last,
    }


def run_mnist(section, data_dir, out_dir, epochs):
    results = section.results
    results["epochs"] = epochs
    data_dir = find_mnist(data_dir)
    results["data_dir"] = data_dir
    fastnn_cmd, torch_cmd = mnist_commands(data_dir, epochs)
    cache = tempfile.mkdtemp(prefix="fastnn-gpu-check-cache-")
    results["cache_dir"] = cache
    env = child_env(FASTNN_CACHE_DIR=cache, FASTNN_DATA_DIR=data_dir)
    # seconds kept back for the runs after each one (warm run, PyTorch)
    for name, cmd, keep in (
        ("fastnn_cold", fastnn_cmd, 30),
        ("fastnn_warm", fastnn_cmd, 15),
        ("pytorch", torch_cmd, 0),
    ):
        section.attempt(
            name,
            lambda: timed_process(
                name, cmd, env, max(section.left() - keep, 5), out_dir
            ),
        )
        if name.startswith("fastnn"):
            results[f"cache_files_after_{name}"] = sum(
                len(files) for _, _, files in os.walk(cache)
            )
    warm, torch = results.get("fastnn_warm", {}), results.get("pytorch", {})
    if "seconds" in warm and "seconds" in torch:
        results["ratio_warm_over_pytorch"] = warm["seconds"] / torch["seconds"]


# ----------------------------------------------------------- data parallel
DISTRIBUTED_RANKS = 2


def mpiexec_command(ranks=DISTRIBUTED_RANKS):
    """``mpiexec -n RANKS`` as a list, or None when there is no mpiexec.

    Open MPI refuses to start as root (the lent GPU machine runs commands as
    root) and to place more ranks than cores without its two flags."""
    import shutil

    exe = shutil.which("mpiexec")
    if exe is None:
        return None
    try:
        version = subprocess.run(
            [exe, "--version"], capture_output=True, text=True, timeout=30
        ).stdout
    except (OSError, subprocess.SubprocessError):
        version = ""
    cmd = [exe, "-n", str(ranks)]
    if "Open MPI" in version or "OpenRTE" in version:
        cmd += ["--oversubscribe"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd += ["--allow-run-as-root"]
    return cmd


def run_distributed(section, out_dir, packages=None, device="cuda"):
    """``gpu_distributed.py`` under ``mpiexec`` once per CUDA package."""
    launcher = mpiexec_command()
    if launcher is None:
        section.results["skipped"] = "no mpiexec on PATH"
        log("   data parallel: skipped (no mpiexec on PATH)")
        return
    section.results["mpiexec"] = launcher
    packages = packages or cuda_packages()
    for k, package in enumerate(packages):
        share = section.left() / (len(packages) - k)
        section.attempt(
            package,
            lambda: run_distributed_with(
                launcher, package, max(share, 1), out_dir, device
            ),
        )


def run_distributed_with(launcher, package, timeout, out_dir, device="cuda"):
    """One mpiexec run: the scenarios' JSON lines from rank 0, checked."""
    script = str(HERE / "gpu_distributed.py")
    cmd = launcher + [sys.executable, script, "--device", device]
    env = child_env(FASTNN_CUDA_PACKAGE=package)
    start = time.perf_counter()
    proc = subprocess.run(
        cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    output = proc.stdout + proc.stderr
    if out_dir:
        tail = output.strip().splitlines()[-LOG_LINES:]
        (Path(out_dir) / f"distributed_{package}.log").write_text(
            "\n".join(tail) + "\n"
        )
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line[:1] == "{"]
    if proc.returncode != 0 or not rows:
        raise RuntimeError(f"exit status {proc.returncode}: {output.strip()[-500:]}")
    ranks = {row["ranks"] for row in rows}
    if ranks != {DISTRIBUTED_RANKS}:
        # each process started alone: mpiexec belongs to another MPI than
        # the library mpi4py loads
        raise RuntimeError(
            f"ranks saw a world of {sorted(ranks)}, not {DISTRIBUTED_RANKS}: "
            f"{launcher[0]} does not launch the MPI that mpi4py uses"
        )
    worst = max(row["max_abs_weight_diff"] for row in rows)
    log(f"   data parallel with {package}: max |weight difference| {worst:.3g}")
    return {
        "scenarios": rows,
        "max_abs_weight_diff": worst,
        "seconds": time.perf_counter() - start,
    }
