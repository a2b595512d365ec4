"""The CPU matrix product and the choice of BLAS behind it (MKL or OpenBLAS).

The suite runs once with the BLAS that ``auto`` picks and once more, for the
kernel tests, with ``FASTNN_CPU_BLAS=openblas`` (``scripts/test.sh``).
"""

import json
import subprocess
import sys

import numpy as np
import pytest

from fastnn import kernels
from fastnn.kernels import _blas_timing, _cpu_blas
from fastnn.kernels.cpu.gemm import matmul


def layouts(a):
    """``a`` as a C array and as an F array with the same values."""
    return [a, np.asfortranarray(a)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "m, k, n", [(1, 784, 512), (128, 784, 512), (3, 1, 5), (5, 7, 1), (1, 1, 1)]
)
def test_matmul_matches_float64_reference_in_every_layout(dtype, m, k, n):
    rng = np.random.default_rng(m * 100 + k + n)
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    reference = a.astype(np.float64) @ b.astype(np.float64)
    tol = 1e-4 if dtype == np.float32 else 1e-12
    for a_view in layouts(a):
        for b_view in layouts(b):
            out = np.full((m, n), np.nan, dtype)
            matmul(a_view, b_view, out)
            np.testing.assert_allclose(out, reference, rtol=tol, atol=tol * np.sqrt(k))


def test_matmul_of_transposed_views_needs_no_copy():
    """x.T and w.T (the backward products) are F views handed over as-is."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 30)).astype(np.float32)
    g = rng.standard_normal((64, 20)).astype(np.float32)
    w = rng.standard_normal((30, 20)).astype(np.float32)
    dw, dx = np.empty((30, 20), np.float32), np.empty((64, 30), np.float32)
    matmul(x.T, g, dw)
    matmul(g, w.T, dx)
    np.testing.assert_allclose(dw, x.T.astype(np.float64) @ g, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dx, g.astype(np.float64) @ w.T, rtol=1e-4, atol=1e-4)


@pytest.mark.filterwarnings("ignore::numba.NumbaPerformanceWarning")
def test_matmul_other_layouts_fall_back_to_np_dot():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((6, 8)).astype(np.float32)[:, ::2]  # neither C nor F
    b = rng.standard_normal((4, 3)).astype(np.float32)
    out = np.empty((6, 3), np.float32)
    matmul(a, b, out)
    np.testing.assert_allclose(out, a.astype(np.float64) @ b, rtol=1e-5, atol=1e-5)


def test_cpu_blas_is_reported_with_its_reason():
    assert kernels.cpu_blas() in ("mkl", "openblas")
    assert kernels.cpu_blas_reason().startswith(("auto: ", "FASTNN_CPU_BLAS="))


def run_python(code, **env):
    import os

    full_env = {**os.environ, **env}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=full_env
    )


def test_openblas_can_be_forced(tmp_path):
    proc = run_python(
        "import numpy as np; from fastnn import kernels; "
        "from fastnn.kernels.cpu.gemm import matmul; "
        "a = np.ones((2, 3), np.float32); out = np.empty((2, 2), np.float32); "
        "matmul(a, a.T, out); assert (out == 3).all(); print(kernels.cpu_blas())",
        FASTNN_CPU_BLAS="openblas",
        FASTNN_CACHE_DIR=str(tmp_path),
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["openblas"]
    assert (tmp_path / "openblas").is_dir()  # one cache tree per BLAS


def test_unknown_choice_is_a_clear_error():
    proc = run_python("import fastnn", FASTNN_CPU_BLAS="atlas")
    assert proc.returncode != 0
    assert "FASTNN_CPU_BLAS: expected one of auto, mkl, openblas, got 'atlas'" in (
        proc.stderr
    )


def test_missing_mkl_when_required_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(_cpu_blas._config, "CPU_BLAS", "mkl")
    monkeypatch.setattr(_cpu_blas, "mkl_library_candidates", lambda: [])
    with pytest.raises(
        ImportError, match=r'pip install "\.\[mkl\]" from the fastnn clone'
    ):
        _cpu_blas._resolve()
    monkeypatch.setattr(_cpu_blas._config, "CPU_BLAS", "auto")
    # auto falls back quietly
    assert _cpu_blas._resolve() == ("openblas", "auto: MKL not installed")


def test_mkl_loader_reports_what_failed(tmp_path):
    assert _cpu_blas._load_mkl([]) == (None, "no libmkl_rt found")
    fake = tmp_path / "lib" / "libmkl_rt.so.3"
    fake.parent.mkdir()
    fake.write_bytes(b"not a shared library")
    assert _cpu_blas.mkl_library_candidates([str(tmp_path)])[0] == str(fake)
    library, error = _cpu_blas._load_mkl([str(fake)])
    assert library is None and str(fake) in error


@pytest.mark.skipif(
    not _cpu_blas.mkl_library_candidates(), reason="Intel MKL is not installed"
)
def test_auto_picks_the_measured_faster_blas_and_keeps_it(tmp_path):
    """With MKL installed, ``auto`` times both libraries in the first process
    and saves the result; the next process reads it (kernels/_blas_timing.py)."""
    code = (
        "from fastnn import kernels; "
        "print(kernels.cpu_blas()); print(kernels.cpu_blas_reason())"
    )

    def run():
        proc = run_python(code, FASTNN_CPU_BLAS="auto", FASTNN_CACHE_DIR=str(tmp_path))
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.splitlines()

    choice, reason = run()
    saved = list(tmp_path.glob("cpu-blas-*.json"))
    if saved:  # a steady measurement: the rule applied to the saved times
        record = json.loads(saved[0].read_text())
        faster = _blas_timing.prefers_mkl(record["mkl_ms"], record["openblas_ms"])
        assert choice == record["choice"] == ("mkl" if faster else "openblas")
        assert reason.startswith("auto: measured MKL ")
        assert reason.endswith("; measured now)")
        cached = reason.replace("measured now", f"cached {record['measured']}")
        assert run() == [choice, cached]
    else:  # a machine too busy to measure: the vendor decided, nothing kept
        vendor, _ = _blas_timing.cpu_model()
        assert choice == ("mkl" if vendor == "GenuineIntel" else "openblas")
        assert f"by vendor instead: {vendor} CPU" in reason


def test_mkl_in_another_integer_interface_is_refused(tmp_path):
    """An MKL already running with 64-bit integers (ILP64) cannot take the
    kernels' 32-bit arguments: it is skipped with a reason, never called."""
    import shutil

    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler to build a stand-in library")
    source = tmp_path / "fake_mkl.c"
    source.write_text(
        "int MKL_Set_Interface_Layer(int layer) { return 1; }\n"
        "void cblas_sgemm(void) {}\nvoid cblas_dgemm(void) {}\n"
    )
    library = tmp_path / "libmkl_rt.so.3"
    subprocess.run(
        [compiler, "-shared", "-fPIC", str(source), "-o", str(library)], check=True
    )
    assert _cpu_blas._load_mkl([str(library)]) == (
        None,
        f"{library}: MKL runs with interface layer 1, not LP64",
    )
