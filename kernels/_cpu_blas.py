"""Which BLAS the CPU kernels' matrix products call.

OpenBLAS, the BLAS that NumPy and SciPy ship, is always there: Numba's
``np.dot`` calls SciPy's. Intel MKL is there when its runtime is installed
(``pip install ".[mkl]"`` from the clone, the ``mkl`` wheel). Which of the two is
faster depends on the CPU, not on the brand of the library: the products of a
784-512-512-10 training step took 26% less time with MKL on a 2-core Xeon
(1.53 ms against 2.07 ms at batch 128), but 18-39% more on an AMD EPYC.

``FASTNN_CPU_BLAS`` picks: ``auto`` (default), ``mkl`` (an error if MKL is
missing) or ``openblas``. ``auto`` takes OpenBLAS when MKL is not installed;
otherwise it times the eight products of one such training step with both
libraries, once per machine, and takes MKL only when MKL is at least 5% faster;
when that measurement cannot be made or kept, the CPU vendor decides. The
measurement, the rule and the saved decisions are in
``kernels/_blas_timing.py``. ``cpu_blas_reason()`` says which of these happened.

MKL's ``cblas_sgemm``/``cblas_dgemm`` are registered with LLVM under fixed
symbol names, so compiled kernels refer to them by name and stay cacheable on
disk (a ctypes function pointer would be baked into the machine code as an
address that is different in the next process).
"""

import ctypes
import ctypes.util
import datetime
import glob
import os
import site
import sys

from . import _blas_timing, _config

CHOICES = ("auto", "mkl", "openblas")
SGEMM_SYMBOL = "fastnn_mkl_cblas_sgemm"
DGEMM_SYMBOL = "fastnn_mkl_cblas_dgemm"
_MKL_INTERFACE_LP64 = 0  # 32-bit integers, what the kernels pass


def mkl_library_candidates(prefixes=None):
    """Paths or names under which MKL's single dynamic library may be found."""
    if prefixes is None:  # the wheel puts it in <prefix>/lib (also for --user)
        prefixes = [sys.prefix, site.getuserbase(), os.environ.get("CONDA_PREFIX", "")]
    found = []
    for prefix in filter(None, prefixes):
        found += sorted(glob.glob(os.path.join(prefix, "lib", "libmkl_rt.so*")))
    by_loader = ctypes.util.find_library("mkl_rt")
    if by_loader:
        found.append(by_loader)
    return found


def _load_mkl(candidates):
    """Open MKL, ask for its 32-bit-integer interface and register the two
    GEMMs with LLVM: ``(library, None)``, or ``(None, error text)``."""
    if not candidates:
        return None, "no libmkl_rt found"
    errors = []
    for path in candidates:
        try:
            lib = ctypes.CDLL(path)
            set_layer = lib.MKL_Set_Interface_Layer
            sgemm, dgemm = lib.cblas_sgemm, lib.cblas_dgemm
        except (OSError, AttributeError) as exc:
            errors.append(f"{path}: {exc}")
            continue
        set_layer.restype = ctypes.c_int
        set_layer.argtypes = [ctypes.c_int]
        layer = set_layer(_MKL_INTERFACE_LP64)
        if layer != _MKL_INTERFACE_LP64:  # MKL already in use with 64-bit ints
            errors.append(f"{path}: MKL runs with interface layer {layer}, not LP64")
            continue
        import llvmlite.binding as llvm

        for symbol, fn in ((SGEMM_SYMBOL, sgemm), (DGEMM_SYMBOL, dgemm)):
            llvm.add_symbol(symbol, ctypes.cast(fn, ctypes.c_void_p).value)
        return lib, None
    return None, "; ".join(errors)


def _auto(candidates):
    """``(choice, reason)`` for ``FASTNN_CPU_BLAS=auto`` with MKL installed."""
    vendor, model = _blas_timing.cpu_model()
    key = _blas_timing._decision_key(candidates[0], vendor, model)
    path = _blas_timing.decision_path(key)
    saved = None if path is None else _blas_timing._read_decision(path, key)
    if saved is not None and saved["choice"] == "openblas":
        # MKL is not even loaded: the process runs as with FASTNN_CPU_BLAS=openblas
        return "openblas", _blas_timing._measured_reason(
            saved, f"cached {saved['measured']}"
        )
    mkl, error = _load_mkl(candidates)
    if error is not None:
        return "openblas", f"auto: MKL could not be used ({error})"
    if saved is not None:
        return "mkl", _blas_timing._measured_reason(
            saved, f"cached {saved['measured']}"
        )
    try:
        timing = _blas_timing._measure(mkl)
    except _blas_timing._Unmeasurable as exc:
        return _blas_timing._by_vendor(vendor, f"no measurement: {exc}")
    except Exception as exc:  # a failed measurement must not fail the import
        return _blas_timing._by_vendor(
            vendor, f"no measurement ({type(exc).__name__}: {exc})"
        )
    if not timing.steady:
        return _blas_timing._by_vendor(
            vendor,
            f"measurement unsteady (MKL {timing.mkl_ms:.2f} ms, OpenBLAS "
            f"{timing.openblas_ms:.2f} ms, blocks over "
            f"{_blas_timing._STEADY - 1:.0%} apart)",
        )
    choice = (
        "mkl"
        if _blas_timing.prefers_mkl(timing.mkl_ms, timing.openblas_ms)
        else "openblas"
    )
    record = {
        "key": key,
        "choice": choice,
        "mkl_ms": round(timing.mkl_ms, 4),
        "openblas_ms": round(timing.openblas_ms, 4),
        "threads": timing.threads,
        "measured": datetime.date.today().isoformat(),
    }
    saved = path is not None and _blas_timing._save_decision(path, record)
    note = "measured now" if saved else "measured now, not cached"
    return choice, _blas_timing._measured_reason(record, note)


def _resolve():
    """``(choice, reason)``: the BLAS the kernels call and why."""
    choice = _config.CPU_BLAS.strip().lower()
    if choice not in CHOICES:
        raise ValueError(
            f"FASTNN_CPU_BLAS: expected one of {', '.join(CHOICES)}, got "
            f"{_config.CPU_BLAS!r}"
        )
    if choice == "openblas":
        return "openblas", "FASTNN_CPU_BLAS=openblas"
    candidates = mkl_library_candidates()
    if choice == "mkl":
        _, error = _load_mkl(candidates)
        if error is not None:
            raise ImportError(
                f"FASTNN_CPU_BLAS=mkl but Intel MKL could not be used ({error}); "
                'install it with pip install ".[mkl]" from the fastnn clone, or unset FASTNN_CPU_BLAS'
            )
        return "mkl", "FASTNN_CPU_BLAS=mkl"
    if not candidates:
        return "openblas", "auto: MKL not installed"
    return _auto(candidates)


_resolved = None  # (choice, reason) once resolved: fixed for the process


def _resolution():
    global _resolved
    if _resolved is None:
        _resolved = _resolve()
    return _resolved


def cpu_blas():
    """The BLAS the CPU kernels call: ``"mkl"`` or ``"openblas"``.

    ``FASTNN_CPU_BLAS`` (``auto``, ``mkl`` or ``openblas``) decides; ``auto``
    takes MKL when it is installed and measured at least 5% faster here.

    Returns
    -------
    str
        ``"mkl"`` or ``"openblas"``.
    """
    return _resolution()[0]


def cpu_blas_reason():
    """Why ``cpu_blas()`` is what it is, as one sentence (``fastnn info``).

    Returns
    -------
    str
        The setting and, for ``auto``, the measured times or the fallback.
    """
    return _resolution()[1]
