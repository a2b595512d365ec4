"""The kernel cache: keyed on every kernel source and flag, never fatal."""

import shutil
import subprocess
import sys
import types

import numba
import pytest

from fastnn.kernels import _cache, _config, _jit


@pytest.fixture
def fresh_stamp():
    _cache.source_stamp.cache_clear()
    yield
    _cache.source_stamp.cache_clear()


def test_stamp_changes_when_any_kernel_file_changes(tmp_path, monkeypatch, fresh_stamp):
    copy = tmp_path / "kernels"
    shutil.copytree(
        _cache._KERNELS_DIR, copy, ignore=shutil.ignore_patterns("__pycache__")
    )
    monkeypatch.setattr(_cache, "_KERNELS_DIR", copy)
    before = _cache.source_stamp()
    _cache.source_stamp.cache_clear()
    helper = copy / "cpu" / "activations.py"  # a callee of dense.py, in another module
    helper.write_text(helper.read_text() + "\n# edited\n")
    assert _cache.source_stamp() != before


@pytest.mark.parametrize("flag", ["FASTMATH", "PARALLEL"])
def test_stamp_changes_with_numba_flags(monkeypatch, fresh_stamp, flag):
    before = _cache.source_stamp()
    _cache.source_stamp.cache_clear()
    monkeypatch.setattr(_config, flag, not getattr(_config, flag))
    assert _cache.source_stamp() != before


def test_locator_serves_only_kernel_files_and_skips_unwritable_dirs(
    monkeypatch, tmp_path
):
    impl_and_cls = _cache._make_locator_class()
    assert impl_and_cls is not None, "Numba's cache internals moved: update _cache.py"
    _, locator_cls = impl_and_cls
    kernel_file = str(_cache._KERNELS_DIR / "cpu" / "dense.py")
    fn = test_stamp_changes_with_numba_flags  # any Python function will do
    assert locator_cls.from_function(fn, __file__) is None  # not a kernel file
    # unwritable candidates (a path below a regular file) are skipped
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setattr(
        _cache, "candidate_cache_dirs", lambda: [blocker / "a", tmp_path / "ok"]
    )
    locator = locator_cls.from_function(fn, kernel_file)
    assert locator is not None and locator.get_cache_path().startswith(
        str(tmp_path / "ok")
    )
    monkeypatch.setattr(_cache, "candidate_cache_dirs", lambda: [blocker / "a"])
    assert locator_cls.from_function(fn, kernel_file) is None


def test_jit_falls_back_to_no_cache_when_no_locator(monkeypatch):
    calls = []
    real_njit = numba.njit

    def njit(**options):
        calls.append(options["cache"])
        if options["cache"]:
            raise RuntimeError("cannot cache function: no locator available")
        return real_njit(**options)

    monkeypatch.setattr(_jit, "numba", types.SimpleNamespace(njit=njit))
    monkeypatch.setattr(_config, "CACHE", True)
    compiled = _jit.cpu_jit(lambda a: a + 1)
    assert compiled(1) == 2 and calls == [True, False]


def test_import_with_unwritable_cache_dirs_still_works(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    code = (
        "import numpy as np; from fastnn import kernels; x = np.ones((2, 2)); "
        "out = np.empty((2, 2)); kernels.dense_forward(x, x, None, out); "
        "print(out.sum())"
    )
    env = {
        "FASTNN_CACHE_DIR": str(blocker / "a"),
        "XDG_CACHE_HOME": str(blocker / "b"),
        "HOME": str(blocker / "c"),
        "PATH": "/usr/bin:/bin",
    }
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "8.0"


def test_disable_cache_env(tmp_path):
    code = "from fastnn import kernels; print(kernels.cache_dir())"
    env = {"FASTNN_DISABLE_CACHE": "1", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "None"
