"""The CLI's handling of bad arguments, bad files, divergence and Ctrl-C.

Everything runs ``main`` in-process on small fake data (no MNIST), except the
Ctrl-C test, which needs a real process to send SIGINT to.
"""

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import fastnn
from fastnn import cli
from fastnn.cli import main

FEATURES = 16
HIDDEN = (
    "expected positive ints separated by commas (e.g. 512,256), or none for no "
    "hidden layer; got "
)


@pytest.fixture
def loads(monkeypatch):
    """Replace the MNIST loader with small fake data; the list counts the calls."""
    calls = []
    rng = np.random.default_rng(0)

    def fake_load_mnist(path=None, download=True, dtype="float32"):
        calls.append(path)
        x = rng.random((64, FEATURES), dtype=np.float32)
        if dtype == "uint8":
            x = (x * 255).astype(np.uint8)
        y = rng.integers(0, 10, 64)
        return (x, y), (x[:32], y[:32])

    monkeypatch.setattr(fastnn.datasets, "load_mnist", fake_load_mnist)
    return calls


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    """A small compiled model saved to disk, for evaluate and predict."""
    model = fastnn.Sequential(
        [fastnn.Dense(FEATURES, 8, activation="relu"), fastnn.Dense(8, 10)], seed=0
    )
    model.compile(
        optimizer=fastnn.SGD(lr=0.1, momentum=0.9),
        loss="cross_entropy",
        metrics=["accuracy"],
    )
    path = tmp_path_factory.mktemp("model") / "small.safetensors"
    model.save(path)
    return path


def one_line_error(capsys):
    """The stderr of a failed command: exactly one "fastnn: error:" line."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.startswith("fastnn: error: ") and err.count("\n") == 1, err
    return err


# -- 1. divergence ----------------------------------------------------------


def test_divergence_is_a_one_line_error(loads, monkeypatch, capsys):
    def diverge(self, *args, **kwargs):
        raise fastnn.DivergenceError("training diverged: the loss became nan")

    monkeypatch.setattr(fastnn.Sequential, "fit", diverge)
    assert main(["train", "--lr", "1e6", "--hidden", "8", "--quiet", "--json"]) == 1
    assert "training diverged" in one_line_error(capsys)


def test_divergence_on_mnist_is_a_one_line_error(mnist_dir, capsys):
    # the report's case: diverges within a few steps, so this stays cheap
    argv = ["train", "--lr", "1e6", "--quiet", "--data-dir", str(mnist_dir)]
    assert main(argv) == 1
    assert "training diverged" in one_line_error(capsys)


# -- 2. Ctrl-C ---------------------------------------------------------------


def _interrupt(*args, **kwargs):
    raise KeyboardInterrupt


@pytest.mark.parametrize(
    "argv, target",
    [
        (["train", "--quiet"], (fastnn.datasets, "load_mnist")),
        (["evaluate", "m.safetensors"], (fastnn, "load_model")),
        (["predict", "m.safetensors", "x.npy"], (fastnn, "load_model")),
        (["info"], (cli, "info_lines")),
    ],
    ids=["train", "evaluate", "predict", "info"],
)
def test_ctrl_c_exits_130_without_traceback(
    argv, target, monkeypatch, tmp_path, capsys
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.safetensors").write_bytes(b"")
    np.save(tmp_path / "x.npy", np.zeros((1, FEATURES), np.float32))
    monkeypatch.setattr(*target, _interrupt)
    assert main(argv) == 130
    assert capsys.readouterr().err == "fastnn: interrupted\n"


def test_ctrl_c_in_a_real_process_exits_130(tmp_path):
    # a real SIGINT, through the console-script entry point
    script = textwrap.dedent(
        """
        import sys, time
        import fastnn.datasets
        from fastnn.cli import console_main

        def slow_load(*args, **kwargs):
            print("loading", flush=True)
            time.sleep(60)

        fastnn.datasets.load_mnist = slow_load
        sys.argv = ["fastnn", "train", "--quiet"]
        console_main()
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        assert proc.stdout.readline() == "loading\n"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert err == "fastnn: interrupted\n"


# -- 3. --save checked before anything loads ---------------------------------


def test_save_into_missing_folder_fails_before_loading(loads, tmp_path, capsys):
    path = tmp_path / "missing" / "m.safetensors"
    assert main(["train", "--quiet", "--save", str(path)]) == 1
    err = one_line_error(capsys)
    assert str(path) in err and "no such folder" in err
    assert loads == []


def test_save_to_a_directory_fails_before_loading(loads, tmp_path, capsys):
    assert main(["train", "--quiet", "--save", str(tmp_path)]) == 1
    assert "is a directory" in one_line_error(capsys)
    assert loads == []


def test_save_into_read_only_folder_fails_before_loading(
    loads, tmp_path, monkeypatch, capsys
):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # root writes into read-only folders: fail the write as for anyone else
        def denied(*args, **kwargs):
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr(cli.tempfile, "mkstemp", denied)
    try:
        assert main(["train", "--save", str(folder / "m.safetensors")]) == 1
    finally:
        folder.chmod(0o755)
    err = one_line_error(capsys)
    assert "cannot write in" in err and "Permission denied" in err
    assert loads == []


def test_predict_output_into_missing_folder_fails_first(
    model_file, tmp_path, monkeypatch, capsys
):
    np.save(tmp_path / "x.npy", np.zeros((2, FEATURES), np.float32))
    monkeypatch.setattr(fastnn, "load_model", pytest.fail)
    out = tmp_path / "missing" / "y.npy"
    assert (
        main(
            ["predict", str(model_file), str(tmp_path / "x.npy"), "--output", str(out)]
        )
        == 1
    )
    assert "no such folder" in one_line_error(capsys)


# -- 4 and 5. numbers validated at parse time ------------------------------


@pytest.mark.parametrize(
    "option, value, expected",
    [
        ("--epochs", "-1", "expected an integer >= 0, got '-1'"),
        ("--epochs", "x", "expected an integer >= 0, got 'x'"),
        ("--epochs", "1.5", "expected an integer >= 0, got '1.5'"),
        ("--batch-size", "0", "expected an integer >= 1, got '0'"),
        ("--batch-size", "-3", "expected an integer >= 1, got '-3'"),
        ("--seed", "-1", "expected an integer >= 0, got '-1'"),
        ("--momentum", "-1", "expected a number in [0, 1), got '-1'"),
        ("--momentum", "1", "expected a number in [0, 1), got '1'"),
        ("--momentum", "nan", "expected a number in [0, 1), got 'nan'"),
        ("--momentum", "abc", "expected a number in [0, 1), got 'abc'"),
        ("--lr", "-1", "expected a finite number > 0, got '-1'"),
        ("--lr", "0", "expected a finite number > 0, got '0'"),
        ("--lr", "inf", "expected a finite number > 0, got 'inf'"),
        ("--lr", "nan", "expected a finite number > 0, got 'nan'"),
        ("--lr", "abc", "expected a finite number > 0, got 'abc'"),
        ("--hidden", "", HIDDEN + "''"),
        ("--hidden", "512,,512", HIDDEN + "'512,,512'"),
        ("--hidden", ",", HIDDEN + "','"),
        ("--hidden", "0", HIDDEN + "'0'"),
        ("--hidden", "-5", HIDDEN + "'-5'"),
        ("--hidden", "12,x", HIDDEN + "'12,x'"),
    ],
)
def test_bad_numbers_rejected_before_loading(option, value, expected, loads, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--quiet", f"{option}={value}"])
    assert exit_info.value.code == 2
    assert f"argument {option}: {expected}" in capsys.readouterr().err
    assert loads == []


def test_hidden_error_says_how_to_ask_for_no_hidden_layer(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--hidden="])
    assert "none" in capsys.readouterr().err


@pytest.mark.parametrize(
    "value, sizes",
    [("none", []), ("NONE", []), ("512,256", [512, 256]), (" 64 , 32 ", [64, 32])],
)
def test_hidden_sizes_parsed(value, sizes):
    args = cli.build_parser().parse_args(["train", "--hidden", value])
    assert args.hidden == sizes


def test_train_without_hidden_layer_and_save(loads, tmp_path, capsys):
    path = tmp_path / "linear.safetensors"
    argv = ["train", "--hidden", "none", "--epochs", "1", "--json", "--save", str(path)]
    assert main(argv) == 0
    last = capsys.readouterr().out.splitlines()[-1]
    assert json.loads(last)["saved"] == str(path)
    assert len(fastnn.load_model(path).layers) == 1


def test_help_documents_hidden_none(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "none" in capsys.readouterr().out


# -- 6. predict's INPUT ------------------------------------------------------


def _pickled_npy(path):
    np.save(path, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)


def _truncated_npy(path):
    np.save(path, np.zeros((4, FEATURES), np.float32))
    path.write_bytes(path.read_bytes()[:-20])


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda p: p.write_text("1,2,3\n"), ": not a .npy array file (no .npy header"),
        (_pickled_npy, ": not a .npy array file (it holds Python objects"),
        (_truncated_npy, ": not a .npy array file ("),
        (lambda p: None, ": no such file"),
        (lambda p: p.mkdir(), ": is a directory, not a .npy array file"),
    ],
    ids=["text", "pickled", "truncated", "missing", "directory"],
)
def test_predict_bad_input_file(make, expected, model_file, tmp_path, capsys):
    path = tmp_path / "input.npy"
    make(path)
    assert main(["predict", str(model_file), str(path)]) == 1
    err = one_line_error(capsys)
    assert f"{path}{expected}" in err
    assert "allow_pickle" not in err


def test_predict_prints_classes(model_file, tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((3, FEATURES), np.float32))
    assert main(["predict", str(model_file), str(tmp_path / "x.npy")]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3


def test_predict_output_gets_npy_suffix(model_file, tmp_path, capsys):
    # np.save appends .npy; the message names the file actually written
    np.save(tmp_path / "x.npy", np.zeros((3, FEATURES), np.float32))
    out = tmp_path / "y"
    assert (
        main(
            ["predict", str(model_file), str(tmp_path / "x.npy"), "--output", str(out)]
        )
        == 0
    )
    assert f"{out}.npy" in capsys.readouterr().out
    assert np.load(f"{out}.npy").shape == (3, 10)


# -- 7. install hints work from a clone --------------------------------------


def test_no_install_hint_names_the_package_index_project():
    """Every install hint in the package must work from a clone: the name
    fastnn on the public package index is an unrelated project."""
    root = Path(cli.__file__).resolve().parent.parent
    sources = list((root / "fastnn").glob("*.py")) + list(root.glob("kernels/**/*.py"))
    offenders = [
        str(path)
        for path in sources
        if re.search(r"pip install [`\"']?fastnn\[", path.read_text())
    ]
    assert offenders == []
    readme = (root / "README.md").read_text()
    assert not re.search(r"pip install [`\"']?fastnn\[", readme)


# -- 8. corrupt model files --------------------------------------------------


def _crafted(model_file, path, change):
    """``model_file`` with its config JSON passed through ``change``."""
    data = Path(model_file).read_bytes()
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + size])
    config = json.loads(header["__metadata__"]["config"])
    header["__metadata__"]["config"] = json.dumps(change(config))
    new = json.dumps(header).encode()
    path.write_bytes(len(new).to_bytes(8, "little") + new + data[8 + size :])


@pytest.mark.parametrize(
    "make",
    [
        lambda m, p: p.write_bytes(os.urandom(300)),
        lambda m, p: p.write_bytes(Path(m).read_bytes()[:-100]),
        lambda m, p: p.write_bytes(Path(m).read_bytes()[:50]),
        lambda m, p: _crafted(m, p, lambda c: {k: c[k] for k in c if k != "layers"}),
        lambda m, p: _crafted(m, p, lambda c: [1, 2]),
        lambda m, p: _crafted(
            m, p, lambda c: {**c, "layers": [{"class": "Dense", "config": None}]}
        ),
        lambda m, p: _crafted(m, p, lambda c: {**c, "optimizer": {"class": "SGD"}}),
        lambda m, p: None,
        lambda m, p: p.mkdir(),
    ],
    ids=[
        "garbage",
        "truncated",
        "truncated-header",
        "no-layers",
        "config-list",
        "layer-config-null",
        "optimizer-no-config",
        "missing",
        "directory",
    ],
)
@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_bad_model_file_is_a_one_line_error(
    make, command, model_file, loads, tmp_path, capsys
):
    path = tmp_path / "bad.safetensors"
    make(model_file, path)
    np.save(tmp_path / "x.npy", np.zeros((1, FEATURES), np.float32))
    argv = [command, str(path)] + ([str(tmp_path / "x.npy")] * (command == "predict"))
    assert main(argv) == 1
    assert str(path) in one_line_error(capsys)
    assert loads == []


def test_evaluate_good_model(model_file, loads, capsys):
    assert main(["evaluate", str(model_file), "--json"]) == 0
    assert set(json.loads(capsys.readouterr().out)) == {"loss", "accuracy"}
