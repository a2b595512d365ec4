"""fastnn on an NVIDIA GPU against PyTorch CUDA, one command, about 5 minutes.

Made for a lent H100: environment, fastnn's CUDA tests on the device,
data-parallel training of GPU models on two MPI ranks against one CPU
process, training-step and predict timings of fastnn (CUDA graphs on and off) beside
PyTorch CUDA (eager and CUDA-graph), MNIST end to end (fastnn CLI cold and
warm kernel cache, PyTorch CUDA), then one Markdown table.

    python benchmarks/gpu_check.py [--out DIR] [--data-dir MNIST_DIR]
        [--skip-tests] [--skip-distributed] [--skip-mnist] [--quick]
        [--budget SECONDS]
    python benchmarks/gpu_check.py --from-json DIR/gpu_check.json   # table again

Every section runs under its own time cap (the caps are cut to what is left
of ``--budget``, 290 s by default; time a section leaves unused goes to the
next ones) and in its own try/except: a failure is
recorded as ``{"error": ..., "traceback": ...}`` and the run goes on. Results
are (re)written to ``DIR/gpu_check.json`` after every section and every timed
cell, so a run killed by a timeout still leaves what it measured; the table
goes to ``DIR/gpu_check.md`` and stdout, test and MNIST logs to ``DIR/*.log``.
``DIR`` is ``--out``, else ``$OUT``, else ``gpu_results/`` (git-ignored).

fastnn need not be installed: this checkout's root goes first on
``sys.path`` (``fastnn/__init__.py`` maps ``fastnn.kernels`` to ``kernels/``)
and on the subprocesses' ``PYTHONPATH``; the CLI runs as ``python -m fastnn``.
The lent GPU machine (no internet) had numpy, scipy, numba, numba-cuda, CuPy,
PyTorch, tqdm, safetensors and pytest (2026-11); a machine without some of
them takes them as wheels, with MNIST, in git-ignored folders (13 MB):

    mkdir -p .whl .data && cp ../shared/data/mnist/*.gz .data/
    pip download --no-deps --only-binary=:all: --python-version 3.12 \\
        --platform manylinux_2_17_x86_64 -d .whl \\
        tqdm safetensors pytest pluggy iniconfig packaging pygments
    git rev-parse HEAD > COMMIT   # optional: the copy may travel without .git

then, on the GPU machine (with .whl and .data carried along), one command:

    pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl && \\
    PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1 \\
        python benchmarks/gpu_check.py --data-dir .data --out $OUT

numba-cuda-mlir, when installed, is tested too and (FASTNN_CUDA_PACKAGE=auto)
compiles the kernels timed; set FASTNN_CUDA_PACKAGE=numba-cuda to time the
other. Its wheel (71 MB) is over the 64 MiB a lent machine takes along;
unpacked and packed again as ``tar.xz`` it is 49 MB: carry that, unpack it
into a folder on ``PYTHONPATH`` there. Measured: 2.5 minutes on an H200 with
both packages tested (published runs: ``benchmarks/gpu_results/``).
``--quick`` (fewer rounds, 1 MNIST epoch) rehearses the whole path.
The data-parallel section (``gpu_distributed.py`` under ``mpiexec -n 2``,
and tests/cuda/test_cuda_distributed.py) needs mpi4py and an MPI library
whose ``mpiexec`` is first on PATH. The lent H100 (2026-11-28) had both
(mpi4py 4.1.2, Open MPI 4.1.6): carry none. Carried mpich wheels there put
mpich's ``mpiexec`` on PATH while mpi4py loaded Open MPI, and every rank
ran alone (the section reports that as an error).
"""

import argparse
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

# after the path setup above
import gpu_report  # noqa: E402
import gpu_sections  # noqa: E402
from gpu_run import ROOT, Run, ensure_fastnn, log, start_watchdog  # noqa: E402

#: seconds per section (sum 285): each gets its cap while the budget lasts,
#: and also what the sections before it left unused (what is left of the
#: budget less the caps of the sections still to come)
CAPS = {"environment": 20, "tests": 95, "distributed": 30, "steps": 70, "mnist": 70}
BUDGET = 290
#: after budget + this, a watchdog ends the process (the JSON is already saved)
GRACE = 45
MNIST_EPOCHS = 5


def build_parser():
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--out",
        default=os.environ.get("OUT") or str(ROOT / "gpu_results"),
        help="directory for gpu_check.json, gpu_check.md and logs "
        "(default $OUT, else gpu_results/)",
    )
    parser.add_argument(
        "--data-dir", default=None, help="folder of the MNIST .gz files"
    )
    parser.add_argument("--skip-tests", action="store_true", help="no CUDA tests")
    parser.add_argument("--skip-mnist", action="store_true", help="no MNIST runs")
    parser.add_argument(
        "--skip-distributed",
        action="store_true",
        help="no data-parallel run under mpiexec",
    )
    parser.add_argument(
        "--quick", action="store_true", help="fewer rounds, 1 MNIST epoch (rehearsal)"
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=BUDGET,
        help=f"seconds for the whole run (default {BUDGET})",
    )
    parser.add_argument(
        "--from-json",
        default=None,
        metavar="FILE",
        help="print the table of a saved run",
    )
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.from_json:
        print(gpu_report.report(json.loads(Path(args.from_json).read_text())))
        return 0
    # CuPy reads CUPY_TF32 when it loads: FP32 products only, as torch below
    tf32 = os.environ.pop("CUPY_TF32", None)
    run = Run(args.out, args.budget)
    run.results["meta"] = {"quick": args.quick, "budget_s": args.budget}
    if tf32 is not None:
        run.results["meta"]["CUPY_TF32_removed"] = tf32
    log(f"results in {run.out_dir}; budget {args.budget:.0f} s")
    watchdog = start_watchdog(run, args.budget + GRACE)
    try:
        run_sections(run, args)
    finally:
        watchdog.cancel()
    text = gpu_report.report(run.results)
    if run.out_dir:
        (run.out_dir / "gpu_check.md").write_text(text)
    print("\n" + text, flush=True)
    return exit_status(run.results)


def run_sections(run, args):
    """The sections, in order, each under its cap."""
    caps = dict(CAPS)
    if args.skip_tests:
        run.results["tests"] = {"skipped": True}
        caps.pop("tests")
    if args.skip_distributed:
        run.results["distributed"] = {"skipped": True}
        caps.pop("distributed")
    if args.skip_mnist:
        run.results["mnist"] = {"skipped": True}
        caps.pop("mnist")

    def later(name):
        names = list(caps)
        return sum(caps[n] for n in names[names.index(name) + 1 :])

    run.section(
        "environment",
        gpu_sections.environment,
        caps["environment"],
        later("environment"),
    )
    if "tests" in caps:
        run.section(
            "tests",
            lambda s: gpu_sections.run_tests(s, run.out_dir),
            caps["tests"],
            later("tests"),
        )

    if "distributed" in caps:
        run.section(
            "distributed",
            lambda s: gpu_sections.run_distributed(s, run.out_dir),
            caps["distributed"],
            later("distributed"),
        )

    def steps(section):
        ensure_fastnn()
        import gpu_cases

        gpu_cases.run_steps(section, quick=args.quick)

    run.section("steps", steps, caps["steps"], later("steps"))
    if "mnist" in caps:
        epochs = 1 if args.quick else MNIST_EPOCHS
        run.section(
            "mnist",
            lambda s: gpu_sections.run_mnist(s, args.data_dir, run.out_dir, epochs),
            caps["mnist"],
        )


def exit_status(results):
    """0 when every section and cell ran and the CUDA tests passed, else 1."""
    tests_ok = all(
        r.get("returncode") == 0
        for r in (results.get("tests") or {}).values()
        if isinstance(r, dict) and "returncode" in r
    )
    return 0 if tests_ok and not gpu_report.error_lines(results) else 1


if __name__ == "__main__":
    sys.exit(main())
