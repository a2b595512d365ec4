"""History.plot: the curves drawn are the logged values, the file is written,
and a missing matplotlib or an empty history gives an error that says why."""

import subprocess
import sys

import numpy as np
import pytest

import fastnn as fnn
from fastnn.callbacks import History

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def make_history(validation=True):
    """A History as fit logs it, epochs continuing from a first fit of 3."""
    history = History()
    for i, epoch in enumerate(range(3, 7)):
        logs = {"loss": 1.0 / (i + 1), "accuracy": 0.5 + 0.1 * i, "time_s": 0.01}
        if validation:
            logs.update({"val_loss": 1.2 / (i + 1), "val_accuracy": 0.45 + 0.1 * i})
        history.append(epoch, logs)
    return history


def curves(ax):
    """{label: (x, y)} of the lines on ``ax``."""
    return {
        line.get_label(): (list(line.get_xdata()), list(line.get_ydata()))
        for line in ax.get_lines()
    }


def test_one_subplot_per_quantity_with_train_and_validation_curves():
    history = make_history()
    fig = history.plot()
    assert isinstance(fig, matplotlib.figure.Figure)
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy"]
    epochs = [4, 5, 6, 7]  # counted from 1, as fit prints them
    for ax, name in zip(fig.axes, ["loss", "accuracy"]):
        assert curves(ax) == {
            "train": (epochs, history[name]),
            "validation": (epochs, history[f"val_{name}"]),
        }
        assert ax.get_xlabel() == "epoch"
        assert [t.get_text() for t in ax.get_legend().get_texts()] == [
            "train",
            "validation",
        ]


def test_without_validation_data_only_training_curves():
    history = make_history(validation=False)
    fig = history.plot()
    assert [list(curves(ax)) for ax in fig.axes] == [["train"], ["train"]]
    assert curves(fig.axes[1])["train"][1] == history["accuracy"]


def test_keys_and_ax_draw_into_the_given_axes():
    history = make_history()
    fig, ax = plt.subplots()
    assert history.plot("loss", ax=ax) is fig  # one name needs no list
    assert curves(ax)["validation"][1] == history["val_loss"]
    # time_s is drawn only when asked for
    fig, axes = plt.subplots(1, 2)  # an array of Axes, as plt.subplots returns
    assert history.plot(["accuracy", "time_s"], ax=axes) is fig
    assert curves(axes[1]) == {"train": ([4, 5, 6, 7], history["time_s"])}


def test_ax_count_must_match_the_quantities():
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match=r"2 quantities to draw \(loss, accuracy\)"):
        make_history().plot(ax=ax)


def test_unknown_key_names_the_logged_ones():
    with pytest.raises(ValueError, match=r"\['loss', 'accuracy', 'time_s'\]"):
        make_history().plot(["val_loss"])


def test_values_missing_for_some_epochs_are_refused_before_drawing():
    history = make_history()
    history.history["val_accuracy"].pop()
    with pytest.raises(ValueError, match="'val_accuracy' has 3 values for 4 epochs"):
        history.plot()
    assert plt.get_fignums() == []  # no half-drawn figure left open


def test_path_is_written(tmp_path):
    for name in ("curves.png", "curves.svg"):
        path = tmp_path / name
        make_history().plot(path=path)
        assert path.stat().st_size > 0
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in (tmp_path / "curves.svg").read_bytes()[:1000]


def test_empty_history_is_a_clear_error():
    with pytest.raises(ValueError, match="the history is empty"):
        History().plot()


def test_history_of_fit_with_zero_epochs_is_a_clear_error(rng):
    model = fnn.Sequential([fnn.Dense(3, 2)], seed=0)
    model.compile(optimizer=fnn.SGD(lr=0.1), loss="cross_entropy")
    x = rng.standard_normal((8, 3)).astype(np.float32)
    history = model.fit(x, rng.integers(0, 2, 8), epochs=0, verbose=0)
    with pytest.raises(ValueError, match="no epoch was trained"):
        history.plot()


def test_curves_of_a_real_fit(rng):
    model = fnn.Sequential([fnn.Dense(4, 8, activation="relu"), fnn.Dense(8, 2)])
    model.compile(optimizer=fnn.SGD(lr=0.1), loss="cross_entropy", metrics=["accuracy"])
    x = rng.standard_normal((40, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    history = model.fit(
        x, y, epochs=3, batch_size=8, validation_split=0.25, seed=0, verbose=0
    )
    fig = history.plot()
    assert curves(fig.axes[0]) == {
        "train": ([1, 2, 3], history["loss"]),
        "validation": ([1, 2, 3], history["val_loss"]),
    }


def test_missing_matplotlib_says_how_to_install(monkeypatch):
    for name in ("matplotlib", "matplotlib.pyplot", "matplotlib.figure"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match=r'pip install "\.\[plot\]"'):
        make_history().plot()


def test_importing_fastnn_does_not_import_matplotlib():
    code = "import sys, fastnn; print('matplotlib' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
