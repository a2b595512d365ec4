"""The machinery of ``gpu_check.py``: sections that run under a time cap and
record an error instead of ending the run, cells (``Section.attempt``) that
fail alone, results saved as JSON after each, a watchdog, and the
environment of subprocesses. No NumPy, no GPU."""

import json
import os
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HERE = ROOT / "benchmarks"


def log(message):
    print(f"[gpu_check {time.strftime('%H:%M:%S')}] {message}", flush=True)


def error_record(exc, lines=15):
    """What a failed section or cell leaves in the results."""
    tail = traceback.format_exception(type(exc), exc, exc.__traceback__)
    text = "".join(tail).strip().splitlines()[-lines:]
    return {
        "error": f"{type(exc).__name__}: {exc}"[:1000],
        "traceback": "\n".join(text),
    }


class SectionTimeout(Exception):
    """A section reached its time cap; raised between cells, never inside."""


class Section:
    """A running section: its results dict, its deadline, and ``attempt`` to
    run one cell that records its value or error and saves."""

    def __init__(self, name, results, deadline, save, clock=time.monotonic):
        self.name, self.results, self.deadline = name, results, deadline
        self._save, self._clock = save, clock

    def left(self):
        return self.deadline - self._clock()

    def check(self, what):
        if self.left() <= 0:
            raise SectionTimeout(f"time cap reached before {what}")

    def attempt(self, label, fn, container=None, key=None):
        container = self.results if container is None else container
        key = label if key is None else key
        self.check(label)
        start = time.perf_counter()
        try:
            container[key] = fn()
            status = "ok"
        except SectionTimeout:
            raise
        except Exception as exc:
            container[key] = error_record(exc)
            status = f"error: {container[key]['error'][:200]}"
        took = time.perf_counter() - start
        log(f"   {self.name} {label}: {status} ({took:.1f} s)")
        self._save()
        return container[key]


class Run:
    """The whole run: results, the time budget, the JSON file."""

    def __init__(self, out_dir, budget, clock=time.monotonic):
        self.out_dir = Path(out_dir) if out_dir else None
        self.budget, self.clock = budget, clock
        self.start = clock()
        self.results = {"sections": {}}

    def left(self):
        return self.budget - (self.clock() - self.start)

    def save(self):
        if self.out_dir is None:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        path = self.out_dir / "gpu_check.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.results, indent=2, default=str))
        os.replace(tmp, path)

    def section(self, name, fn, cap, later=0.0):
        """Run ``fn(section)`` for at most ``cap`` seconds, or more when the
        sections before left time over (what is left less ``later``, the caps
        still to come), never past the budget. Any exception is recorded in
        the section's results, which are kept."""
        left = self.left()
        cap = min(left, max(cap, left - later))
        results = self.results.setdefault(name, {})
        if cap < 1:
            results["error"] = "skipped: the run's time budget is spent"
            self.results["sections"][name] = {"status": "skipped", "seconds": 0.0}
            log(f"-- {name}: skipped (budget spent)")
            self.save()
            return results
        log(f">> {name} (cap {cap:.0f} s)")
        section = Section(name, results, self.clock() + cap, self.save, self.clock)
        start = time.perf_counter()
        status = "ok"
        try:
            fn(section)
        except SectionTimeout as exc:
            results["error"] = f"SectionTimeout: {exc}"
            status = "timeout"
        except Exception as exc:
            results.update(error_record(exc))
            status = "error"
        finally:
            took = time.perf_counter() - start
            self.results["sections"][name] = {"status": status, "seconds": took}
            self.save()
        log(f"<< {name}: {status} in {took:.1f} s")
        return results


def ensure_fastnn():
    """Import fastnn from this checkout: its root first on sys.path (no pip,
    no internet; the source tree maps fastnn.kernels to kernels/)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import fastnn

    return fastnn


def child_env(**extra):
    """The environment of the subprocesses: this checkout on PYTHONPATH,
    unbuffered, no simulator, no TF32 in CuPy."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), env.get("PYTHONPATH")) if p
    )
    env["PYTHONUNBUFFERED"] = "1"
    for name in ("NUMBA_ENABLE_CUDASIM", "CUPY_TF32"):
        env.pop(name, None)
    env.update({k: str(v) for k, v in extra.items()})
    return env


def start_watchdog(run, seconds):
    """End the process if it is still running ``seconds`` from now (a hung
    GPU call): the results saved so far stay, the table can be printed from
    them with --from-json."""
    import threading

    def abort():
        log(f"watchdog: still running after {seconds:.0f} s; exiting")
        run.results.setdefault("meta", {})["watchdog"] = f"exited after {seconds:.0f} s"
        try:
            run.save()
        except Exception:  # the main thread may be changing the dict
            pass
        os._exit(3)

    timer = threading.Timer(seconds, abort)
    timer.daemon = True
    timer.start()
    return timer


def text_of(data):
    if data is None:
        return ""
    return data.decode(errors="replace") if isinstance(data, bytes) else data
