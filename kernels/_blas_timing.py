"""The measurement and saved decisions behind ``FASTNN_CPU_BLAS=auto``: the
eight products of one 784-512-512-10 training step timed with MKL and with
SciPy's OpenBLAS, the rule that turns the two times into a choice, and the file
that keeps it per machine (``kernels/_cpu_blas.py`` loads MKL and applies it).

MKL is taken only when MKL is at least ``MKL_MARGIN`` (5%) faster. The margin
keeps near-ties on OpenBLAS, the library every install has: the medians of one
library's two blocks of samples differ by up to 5% on a quiet machine, so a
smaller lead is not a measured one, and MKL (0.9 GB, its own OpenMP thread
pool) is only worth loading for a real gain. Both libraries run with the same
number of threads while timed, the smaller of their two defaults.

The result is saved next to the kernel cache, in a file whose name hashes the
CPU model, the CPU count, the MKL library file, the SciPy version (its wheels
pin their OpenBLAS) and the environment variables that change either library's
threads or code path, so another machine or library measures again. A
measurement that cannot be made, meets a busy machine (other programs use over
half a CPU meanwhile) or is unsteady (each library's two blocks of samples
disagree by over 25%) is not saved; the CPU vendor decides instead, MKL on
GenuineIntel and OpenBLAS elsewhere (MKL's fast paths are Intel's). Without a
writable cache (``FASTNN_DISABLE_CACHE=1``) every process measures (~0.5 s) and
decides by it.
"""

import contextlib
import ctypes
import hashlib
import json
import math
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

#: MKL is picked only when its time is at least this fraction below OpenBLAS's.
MKL_MARGIN = 0.05
#: Bump when the measurement or the rule changes: every machine measures again.
_FORMAT = 1
#: Variables that change the BLAS threads or code paths, hence the timings.
_KEY_ENV = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "OPENBLAS_CORETYPE",
    "OPENBLAS_L2_SIZE",
    "MKL_ENABLE_INSTRUCTIONS",
    "MKL_DEBUG_CPU_TYPE",
    "MKL_THREADING_LAYER",
)
#: The timed training step: batch B and the layer widths, 784-512-512-10.
_BATCH, _WIDTHS = 128, (784, 512, 512, 10)
#: Untimed steps before each block: the first call after idle wakes the thread
#: pool (up to 12 ms with MKL here, README "Benchmarks").
_WARMUP = 2
_SAMPLES = 5  # timed steps per block; two blocks per library
#: Each library's two block medians must agree within this factor, else the
#: machine was busy and the timings are not kept.
_STEADY = 1.25
#: Pause after a block before switching library: its idle threads keep spinning
#: on the cores for a while (Intel OpenMP's default KMP_BLOCKTIME is 200 ms;
#: OpenBLAS waits 2**28 TSC cycles, ~0.1 s). Without it, MKL's steps right after
#: OpenBLAS took 3.4-15 ms instead of 1.6 ms on the 2-core Xeon, and once
#: steadily enough to pick OpenBLAS.
_SETTLE_S = {"mkl": 0.21, "openblas": 0.11}
#: Timings are dropped when other programs kept more than this many CPUs busy,
#: on average, on the ones this process runs on: a BLAS splits its work evenly
#: over its threads, so one thread left waiting for a core stalls them all. On
#: the 2-core Xeon one busy core made OpenBLAS's step 112 ms instead of 2.2 ms,
#: the same in every block (so only this check tells it from a slow library).
_BUSY_CPUS = 0.5
_BUDGET_S = 2.0  # a machine this slow is judged by its vendor instead
_NAMES = {"mkl": "MKL", "openblas": "OpenBLAS"}


def cpu_model():
    """``(vendor, model name)`` of this CPU, e.g. ``("GenuineIntel", "Intel(R)
    Xeon(R) ...")``; the vendor is ``"unknown"`` without ``/proc/cpuinfo``."""
    found = {}
    with contextlib.suppress(OSError, UnicodeDecodeError):
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                name, _, value = line.partition(":")
                found.setdefault(name.strip(), value.strip())
                if "vendor_id" in found and "model name" in found:
                    break
    model = found.get("model name") or platform.processor() or platform.machine()
    return found.get("vendor_id") or "unknown", model


class Timing(NamedTuple):
    """Median milliseconds of one training step's products per library, at
    ``threads`` threads for both; ``steady`` when the blocks agreed."""

    mkl_ms: float
    openblas_ms: float
    threads: int
    steady: bool


class _Unmeasurable(Exception):
    """The two libraries cannot be timed side by side here."""


def _step_products():
    """The eight ``(a, b, out)`` float32 products of one training step: three
    forward, three weight gradients and two input gradients (the first layer's
    is not needed), with the layouts the kernels pass: ``x.T`` and ``w.T`` are
    F-contiguous views."""
    import numpy as np

    rng = np.random.default_rng(0)

    def rand(*shape):
        return rng.random(shape, dtype=np.float32)

    pairs = []
    x = rand(_BATCH, _WIDTHS[0])
    for layer, (fan_in, fan_out) in enumerate(zip(_WIDTHS, _WIDTHS[1:])):
        w, grad = rand(fan_in, fan_out), rand(_BATCH, fan_out)
        pairs.append((x, w))  # forward: x @ w
        pairs.append((x.T, grad))  # weight gradient: x.T @ g
        if layer > 0:
            pairs.append((grad, w.T))  # input gradient: g @ w.T
        x = rand(_BATCH, fan_out)  # the next layer's input
    return [(a, b, np.empty((a.shape[0], b.shape[1]), np.float32)) for a, b in pairs]


def _layout(x):
    """``(transposed, leading dimension)`` of a C- or F-contiguous matrix read
    as row-major: an F array is the transpose of a C array."""
    return (False, x.shape[1]) if x.flags.c_contiguous else (True, x.shape[0])


def _openblas_functions():
    """SciPy's ``sgemm`` (the function Numba's ``np.dot`` calls) and the thread
    count getter/setter of the OpenBLAS behind it."""
    import scipy.linalg.cython_blas as cython_blas

    capsule = cython_blas.__pyx_capi__["sgemm"]
    get_name = ctypes.PYFUNCTYPE(ctypes.c_char_p, ctypes.py_object)(
        ("PyCapsule_GetName", ctypes.pythonapi)
    )
    get_pointer = ctypes.PYFUNCTYPE(ctypes.c_void_p, ctypes.py_object, ctypes.c_char_p)(
        ("PyCapsule_GetPointer", ctypes.pythonapi)
    )
    pointer = get_pointer(capsule, get_name(capsule))
    sgemm = ctypes.CFUNCTYPE(None, *[ctypes.c_void_p] * 13)(pointer)
    # dlsym on the module also searches the libraries it links, its OpenBLAS;
    # SciPy's wheels prefix OpenBLAS's own functions, a system OpenBLAS does not
    lib = ctypes.CDLL(cython_blas.__file__)
    for prefix in ("scipy_openblas_", "openblas_"):
        get = getattr(lib, prefix + "get_num_threads", None)
        set_ = getattr(lib, prefix + "set_num_threads", None)
        if get is not None and set_ is not None:
            get.restype, get.argtypes = ctypes.c_int, []
            set_.restype, set_.argtypes = None, [ctypes.c_int]
            return sgemm, get, set_
    raise _Unmeasurable("SciPy's BLAS is not OpenBLAS")


def _steps(mkl, openblas_sgemm, products):
    """One training step's products as a no-argument function per library:
    ``{"mkl": ..., "openblas": ...}``, each writing into the ``out`` arrays."""
    c_int, c_float, ptr = ctypes.c_int, ctypes.c_float, ctypes.c_void_p
    cblas_sgemm = mkl.cblas_sgemm
    cblas_sgemm.restype = None
    alpha_to_ldc = [c_float, ptr, c_int, ptr, c_int, c_float, ptr, c_int]
    cblas_sgemm.argtypes = [c_int] * 6 + alpha_to_ldc  # layout, trans a/b, m, n, k
    ref = ctypes.byref  # keeps its temporary alive
    mkl_calls, openblas_calls = [], []
    for a, b, out in products:
        (m, k), n = a.shape, b.shape[1]
        (trans_a, lda), (trans_b, ldb) = _layout(a), _layout(b)
        # row-major CBLAS, the call the MKL kernels make (111/112: (no) trans)
        mkl_calls.append(
            (101, 111 + trans_a, 111 + trans_b, m, n, k, 1.0, a.ctypes.data, lda)
            + (b.ctypes.data, ldb, 0.0, out.ctypes.data, n)
        )
        # Fortran is column-major: out.T = b.T @ a.T, scalars by reference
        flag_a, flag_b = (
            ctypes.c_char(b"T" if t else b"N") for t in (trans_a, trans_b)
        )
        openblas_calls.append(
            (ref(flag_b), ref(flag_a), ref(c_int(n)), ref(c_int(m)), ref(c_int(k)))
            + (ref(c_float(1.0)), b.ctypes.data, ref(c_int(ldb)), a.ctypes.data)
            + (ref(c_int(lda)), ref(c_float(0.0)), out.ctypes.data, ref(c_int(n)))
        )

    def mkl_step():
        for call in mkl_calls:
            cblas_sgemm(*call)

    def openblas_step():
        for call in openblas_calls:
            openblas_sgemm(*call)

    return {"mkl": mkl_step, "openblas": openblas_step}


def _busy_seconds(cpus):
    """CPU seconds that anything, this process included, ran on ``cpus`` since
    boot (Linux's ``/proc/stat``); None where that cannot be read."""
    names = {f"cpu{cpu}" for cpu in cpus}
    ticks = 0
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            for line in stat:
                name, *fields = line.split()
                if name in names:
                    # user nice system idle iowait irq softirq steal: not idle
                    values = [int(field) for field in fields[:8]]
                    ticks += sum(values) - values[3] - values[4]
        return ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        return None


def _other_programs():
    """A function that tells how many of this process's CPUs other programs
    (and the hypervisor, as steal time) kept busy on average since this call;
    always 0.0 where the system does not say."""
    cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else ()
    start = _busy_seconds(cpus), time.process_time(), time.perf_counter()

    def used():
        busy = _busy_seconds(cpus)
        if busy is None or start[0] is None:
            return 0.0
        ours = time.process_time() - start[1]  # every thread of this process
        elapsed = max(time.perf_counter() - start[2], 1e-6)
        return max(0.0, busy - start[0] - ours) / elapsed

    return used


def _time_block(step):
    """Seconds of ``_SAMPLES`` calls of ``step``, after ``_WARMUP`` untimed."""
    for _ in range(_WARMUP):
        step()
    samples = []
    for _ in range(_SAMPLES):
        start = time.perf_counter()
        step()
        samples.append(time.perf_counter() - start)
    return samples


def _measure(mkl):
    """Time one training step's products with MKL (the loaded library ``mkl``)
    and with SciPy's OpenBLAS, both at the smaller of their thread counts."""
    openblas_sgemm, openblas_threads, set_openblas_threads = _openblas_functions()
    products = _step_products()
    steps = _steps(mkl, openblas_sgemm, products)
    mkl.MKL_Get_Max_Threads.restype = ctypes.c_int
    set_mkl_threads = mkl.MKL_Set_Num_Threads_Local  # this thread only
    set_mkl_threads.restype, set_mkl_threads.argtypes = ctypes.c_int, [ctypes.c_int]
    openblas_before = openblas_threads()
    threads = min(mkl.MKL_Get_Max_Threads(), openblas_before)
    mkl_before = set_mkl_threads(threads)
    blocks = {"mkl": [], "openblas": []}
    deadline = time.perf_counter() + _BUDGET_S
    other_programs = _other_programs()

    def check():  # between blocks too, so that a busy or slow machine stops early
        busy = other_programs()
        if busy > _BUSY_CPUS:
            raise _Unmeasurable(f"other programs kept {busy:.1f} CPUs busy")
        if time.perf_counter() > deadline:
            raise _Unmeasurable(f"the products took over {_BUDGET_S:.0f} s")

    try:
        set_openblas_threads(threads)
        # ABBA blocks: a drift in speed during the run weighs on both alike
        previous = None
        for name in ("openblas", "mkl", "mkl", "openblas"):
            if previous is not None:  # (before the first, no time has passed)
                if previous != name:
                    time.sleep(_SETTLE_S[previous])
                check()
            blocks[name].append(_time_block(steps[name]))
            previous = name
        check()
    finally:
        set_mkl_threads(mkl_before)
        set_openblas_threads(openblas_before)
    medians = {}
    steady = True
    for name, (first, second) in blocks.items():
        medians[name] = 1e3 * statistics.median(first + second)
        low, high = sorted((statistics.median(first), statistics.median(second)))
        steady = steady and high <= _STEADY * low
    return Timing(medians["mkl"], medians["openblas"], threads, steady)


def prefers_mkl(mkl_ms, openblas_ms):
    """The rule: MKL when it is at least ``MKL_MARGIN`` faster than OpenBLAS."""
    return mkl_ms <= (1 - MKL_MARGIN) * openblas_ms


def _by_vendor(vendor, why):
    """``(choice, reason)`` from the CPU vendor alone, with why not measured
    (nothing is saved: the next process measures again)."""
    choice = "mkl" if vendor == "GenuineIntel" else "openblas"
    return choice, (
        f"auto: {why}; by vendor instead: {vendor} CPU, {_NAMES[choice]} "
        "(measured again next run)"
    )


def _decision_key(mkl_path, vendor, model):
    """What the measured decision depends on (see the module docstring)."""
    import scipy

    try:  # a reinstalled or upgraded MKL has another size or mtime
        stat = os.stat(mkl_path)
        mkl = f"{os.path.realpath(mkl_path)} {stat.st_size} {stat.st_mtime_ns}"
    except OSError:  # a bare name found by the loader
        mkl = mkl_path
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count()
    return {
        "format": _FORMAT,
        "vendor": vendor,
        "cpu": model,
        "cpus": cpus,
        "mkl": mkl,
        "scipy": scipy.__version__,
        "env": {name: os.environ[name] for name in _KEY_ENV if name in os.environ},
    }


def decision_path(key):
    """The file the decision for ``key`` is saved in, next to the kernel
    cache; None when there is no writable cache."""
    from . import _cache  # imports _cpu_blas, which imports this: at call time

    root = _cache.active_cache_dir()
    if root is None:
        return None
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
    return Path(root) / f"cpu-blas-{digest[:16]}.json"


def _positive(value):
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )


def _read_decision(path, key):
    """The record saved for ``key``, or None when it is missing, unreadable or
    not consistent (then the caller measures again and overwrites it)."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # ValueError: bad JSON or bad UTF-8
        return None
    if not isinstance(record, dict) or record.get("key") != key:
        return None
    mkl_ms, openblas_ms = record.get("mkl_ms"), record.get("openblas_ms")
    threads, measured = record.get("threads"), record.get("measured")
    if not (_positive(mkl_ms) and _positive(openblas_ms) and _positive(threads)):
        return None
    if not isinstance(threads, int) or not isinstance(measured, str):
        return None
    expected = "mkl" if prefers_mkl(mkl_ms, openblas_ms) else "openblas"
    return record if record.get("choice") == expected else None


def _save_decision(path, record):
    """Write ``record`` atomically (concurrent imports may race); False when
    the directory is not writable."""
    temporary = None
    try:
        handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            json.dump(record, file, indent=1)
        os.replace(temporary, path)
        return True
    except OSError:
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
        return False


def _measured_reason(record, note):
    return (
        f"auto: measured MKL {record['mkl_ms']:.2f} ms vs OpenBLAS "
        f"{record['openblas_ms']:.2f} ms per training step on {record['key']['cpu']}, "
        f"{record['threads']} threads (MKL needs a {MKL_MARGIN:.0%} lead; {note})"
    )
