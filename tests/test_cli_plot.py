"""``fastnn train --plot PATH``: the curves of the run are written after
training, and a path that cannot be written fails before any data loads.

Runs ``main`` in-process on small fake data (no MNIST), as test_cli_errors does.
"""

import json
import sys

import numpy as np
import pytest

import fastnn
from fastnn import _plotting
from fastnn.cli import main

pytest.importorskip("matplotlib")
FEATURES = 16


@pytest.fixture
def loads(monkeypatch):
    """Replace the MNIST loader with small fake data; the list counts the calls."""
    calls = []
    rng = np.random.default_rng(0)

    def fake_load_mnist(path=None, download=True, dtype="float32"):
        calls.append(path)
        x = (rng.random((64, FEATURES)) * 255).astype(np.uint8)
        y = rng.integers(0, 10, 64)
        return (x, y), (x[:32], y[:32])

    monkeypatch.setattr(fastnn.datasets, "load_mnist", fake_load_mnist)
    return calls


@pytest.fixture
def recorded(monkeypatch):
    """The History fit returned and the Figure --plot drew, once main ran."""
    seen = {}
    fit, plot_history = fastnn.Sequential.fit, _plotting.plot_history

    def recording_fit(self, *args, **kwargs):
        seen["history"] = fit(self, *args, **kwargs)
        return seen["history"]

    def recording_plot(*args, **kwargs):
        seen["figure"] = plot_history(*args, **kwargs)
        return seen["figure"]

    monkeypatch.setattr(fastnn.Sequential, "fit", recording_fit)
    monkeypatch.setattr(_plotting, "plot_history", recording_plot)
    return seen


def one_line_error(capsys):
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.startswith("fastnn: error: ") and err.count("\n") == 1, err
    return err


def test_plot_writes_the_curves_of_the_run(loads, recorded, tmp_path, capsys):
    path = tmp_path / "curves.png"
    argv = ["train", "--hidden", "8", "--epochs", "3", "--json", "--plot", str(path)]
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["plot"] == str(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    history, figure = recorded["history"], recorded["figure"]
    assert [ax.get_title() for ax in figure.axes] == ["loss", "accuracy"]
    for ax, name in zip(figure.axes, ["loss", "accuracy"]):
        (line,) = ax.get_lines()  # no validation data in fastnn train
        assert list(line.get_xdata()) == [1, 2, 3]
        assert list(line.get_ydata()) == history[name]


def test_plot_is_announced_without_json(loads, tmp_path, capsys):
    path = tmp_path / "curves.svg"
    assert main(["train", "--hidden", "8", "--epochs", "1", "--plot", str(path)]) == 0
    assert f"curves written to {path}" in capsys.readouterr().out
    assert b"<svg" in path.read_bytes()[:1000]


def test_plot_into_missing_folder_fails_before_loading(loads, tmp_path, capsys):
    path = tmp_path / "missing" / "curves.png"
    assert main(["train", "--quiet", "--plot", str(path)]) == 1
    err = one_line_error(capsys)
    assert "--plot" in err and "no such folder" in err
    assert loads == []


def test_plot_to_a_directory_fails_before_loading(loads, tmp_path, capsys):
    folder = tmp_path / "curves.png"
    folder.mkdir()
    assert main(["train", "--quiet", "--plot", str(folder)]) == 1
    assert "is a directory" in one_line_error(capsys)
    assert loads == []


@pytest.mark.parametrize("name", ["curves", "curves.txt"])
def test_plot_needs_an_image_suffix(name, loads, tmp_path, capsys):
    assert main(["train", "--quiet", "--plot", str(tmp_path / name)]) == 1
    err = one_line_error(capsys)
    assert "expected a file name ending in one of" in err and ".png" in err
    assert loads == []


def test_plot_with_zero_epochs_fails_before_loading(loads, tmp_path, capsys):
    argv = ["train", "--epochs", "0", "--plot", str(tmp_path / "c.png")]
    assert main(argv) == 1
    assert "--epochs 0 trains no epoch to draw" in one_line_error(capsys)
    assert loads == []


def test_plot_without_matplotlib_says_how_to_install(
    loads, tmp_path, monkeypatch, capsys
):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert main(["train", "--plot", str(tmp_path / "c.png")]) == 1
    assert 'pip install ".[plot]"' in one_line_error(capsys)
    assert loads == [] and not (tmp_path / "c.png").exists()


def test_help_documents_plot(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "--plot PATH" in capsys.readouterr().out
