import json
import os
import subprocess
import sys

import numpy as np
import pytest

from fastnn.cli import main


def run_cli(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "fastnn", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=600,
    )


def test_train_one_epoch_json(mnist_dir, tmp_path):
    model_path = tmp_path / "mnist.safetensors"
    proc = run_cli(
        "train",
        "--epochs",
        "1",
        "--hidden",
        "128",
        "--json",
        "--data-dir",
        str(mnist_dir),
        "--save",
        str(model_path),
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["test_accuracy"] > 0.94
    assert (
        result["epochs"] == 1
        and result["wall_time_s"] > 0
        and result["samples_per_s"] > 0
    )
    assert model_path.exists()

    proc = run_cli("evaluate", str(model_path), "--json", "--data-dir", str(mnist_dir))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["accuracy"] == pytest.approx(result["test_accuracy"])

    inputs = tmp_path / "x.npy"
    np.save(inputs, np.zeros((3, 784), np.float32))
    outputs = tmp_path / "y.npy"
    proc = run_cli("predict", str(model_path), str(inputs), "--output", str(outputs))
    assert proc.returncode == 0, proc.stderr
    assert np.load(outputs).shape == (3, 10)


def test_info_reports_environment(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "numba" in out and "kernel cache" in out and "CUDA" in out


def test_errors_are_reported_without_traceback(tmp_path, capsys):
    assert main(["train", "--data-dir", str(tmp_path), "--epochs", "1"]) == 1
    assert "missing MNIST files" in capsys.readouterr().err
    (tmp_path / "bad.safetensors").write_bytes(b"junk")
    assert main(["evaluate", str(tmp_path / "bad.safetensors")]) == 1
    assert "not a fastnn model file" in capsys.readouterr().err


def test_bad_hidden_sizes_rejected():
    with pytest.raises(SystemExit):
        main(["train", "--hidden", "12,x"])


def test_train_with_defaults_reaches_98_percent(mnist_dir, capsys):
    """The README's promise: `fastnn train` with its defaults gets >= 98%."""
    assert main(["train", "--json", "--quiet", "--data-dir", str(mnist_dir)]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["epochs"] == 10
    assert result["test_accuracy"] >= 0.98
