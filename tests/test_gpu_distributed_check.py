"""gpu_check.py's data-parallel section, exercised on the CPU: the script
under mpiexec, the launcher flags, the check that ranks really share a
world, and the report lines."""

import importlib
import os
import shutil
import stat
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MPIEXEC = shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or shutil.which(
    "mpiexec"
)
pytest.importorskip("mpi4py", reason="needs mpi4py (the mpi extra)")


def gpu_module(name):
    if str(ROOT / "benchmarks") not in sys.path:
        sys.path.insert(0, str(ROOT / "benchmarks"))
    return importlib.import_module(name)


@pytest.mark.skipif(MPIEXEC is None, reason="no mpiexec on PATH")
def test_two_ranks_equal_one_process(tmp_path):
    sections = gpu_module("gpu_sections")
    launcher = [MPIEXEC, "-n", str(sections.DISTRIBUTED_RANKS)]
    result = sections.run_distributed_with(
        launcher, "numba-cuda", 300, tmp_path, device="cpu"
    )
    names = [row["scenario"] for row in result["scenarios"]]
    assert names == ["plain", "weighted", "dropout_mse"]
    for row in result["scenarios"]:
        assert row["ranks"] == 2 and row["device"] == "cpu"
        assert row["max_abs_weight_diff"] < 1e-12
        assert row["loss_data_parallel"] == pytest.approx(
            row["loss_one_process"], rel=1e-12
        )
    assert result["max_abs_weight_diff"] < 1e-12
    assert (tmp_path / "distributed_numba-cuda.log").exists()


def test_ranks_that_run_alone_are_an_error(tmp_path):
    """A launcher of another MPI starts each process as a world of one (seen
    on a GPU machine): the section must say so rather than report a pass.
    ``env`` stands in for it here: one process, no MPI launch."""
    sections = gpu_module("gpu_sections")
    with pytest.raises(RuntimeError, match=r"world of \[1\], not 2: env does"):
        sections.run_distributed_with(["env"], "numba-cuda", 300, None, device="cpu")


def fake_mpiexec(directory, version_line):
    path = Path(directory) / "mpiexec"
    path.write_text(f"#!/bin/sh\necho '{version_line}'\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.mark.parametrize(
    "version, open_mpi",
    [("mpiexec (OpenRTE) 4.1.6", True), ("HYDRA build details:", False)],
)
def test_launcher_flags_follow_the_mpi(tmp_path, monkeypatch, version, open_mpi):
    sections = gpu_module("gpu_sections")
    exe = fake_mpiexec(tmp_path, version)
    monkeypatch.setenv("PATH", str(tmp_path))
    cmd = sections.mpiexec_command(3)
    assert cmd[:3] == [str(exe), "-n", "3"]
    assert ("--oversubscribe" in cmd) == open_mpi
    root = hasattr(os, "geteuid") and os.geteuid() == 0
    assert ("--allow-run-as-root" in cmd) == (open_mpi and root)


def test_no_mpiexec_skips_the_section(tmp_path, monkeypatch):
    sections = gpu_module("gpu_sections")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert sections.mpiexec_command() is None
    run = gpu_module("gpu_run").Run(tmp_path, budget=100)
    run.section("distributed", lambda s: sections.run_distributed(s, tmp_path), 10)
    assert run.results["distributed"]["skipped"] == "no mpiexec on PATH"
    lines = gpu_module("gpu_report").distributed_lines(run.results["distributed"])
    assert (
        lines[-1] == "Data-parallel training on the GPU: skipped (no mpiexec on PATH)."
    )


def test_report_lines():
    report = gpu_module("gpu_report")
    rows = [
        {"scenario": "plain", "max_abs_weight_diff": 1.1e-16},
        {"scenario": "weighted", "max_abs_weight_diff": 4.9e-16},
    ]
    lines = report.distributed_lines(
        {"mpiexec": ["mpiexec"], "numba-cuda": {"scenarios": rows}, "x": {"error": "E"}}
    )
    assert "- numba-cuda: plain 1.1e-16, weighted 4.9e-16" in lines
    assert "- x: not run: E" in lines
    assert report.distributed_lines({"skipped": True})[-1].endswith(
        "(--skip-distributed)."
    )
    assert report.distributed_lines(None) == []


def test_gpu_check_runs_the_section_within_its_budget():
    gpu_check = gpu_module("gpu_check")
    assert "distributed" in gpu_check.CAPS
    assert sum(gpu_check.CAPS.values()) <= gpu_check.BUDGET < 300
    args = gpu_check.build_parser().parse_args(["--skip-distributed"])
    assert args.skip_distributed
