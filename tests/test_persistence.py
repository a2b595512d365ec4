import os

import numpy as np
import pytest

import fastnn as fnn
from fastnn import persistence


def trained(seed=0, epochs=2, optimizer=None):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((64, 6)).astype(np.float32)
    y = rng.integers(0, 3, 64)
    model = fnn.Sequential(
        [fnn.Dense(6, 12, activation="tanh"), fnn.Dropout(0.1), fnn.Dense(12, 3)]
    )
    model.compile(
        optimizer=optimizer
        or fnn.SGD(lr=0.1, momentum=0.9, schedule=fnn.CosineDecay(6)),
        loss="cross_entropy",
        metrics=["accuracy"],
    )
    if epochs:
        model.fit(x, y, epochs=epochs, batch_size=16, seed=seed, verbose=0)
    return model, x, y


@pytest.mark.parametrize("optimizer", [None, fnn.Adam(lr=0.01), fnn.AdamW(lr=0.01)])
def test_round_trip_predicts_identically(tmp_path, optimizer):
    model, x, _ = trained(optimizer=optimizer)
    path = tmp_path / "model.safetensors"
    model.save(path)
    loaded = fnn.load_model(path)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert loaded.epochs_trained == model.epochs_trained
    assert type(loaded.optimizer) is type(model.optimizer)
    assert loaded.optimizer.steps == model.optimizer.steps
    for name, buffer in model.optimizer.state.items():
        np.testing.assert_array_equal(loaded.optimizer.state[name], buffer)


@pytest.mark.parametrize("optimizer", [None, fnn.Adam(lr=0.01)])
def test_resume_equals_training_straight_through(tmp_path, optimizer):
    straight, x, y = trained(seed=7, epochs=0, optimizer=optimizer)
    straight.fit(x, y, epochs=5, batch_size=16, seed=7, verbose=0)

    first, _, _ = trained(
        seed=7, epochs=0, optimizer=type(optimizer)(lr=0.01) if optimizer else None
    )
    first.fit(x, y, epochs=2, batch_size=16, seed=7, verbose=0)
    first.save(tmp_path / "ckpt.safetensors")
    resumed = fnn.load_model(tmp_path / "ckpt.safetensors")
    resumed.fit(x, y, epochs=3, batch_size=16, seed=7, verbose=0)
    np.testing.assert_array_equal(resumed.get_weights(), straight.get_weights())


def test_uncompiled_model_round_trip(tmp_path):
    model = fnn.Sequential(
        [fnn.Dense(3, 2, activation="leaky_relu", negative_slope=0.2)],
        dtype="float64",
        seed=1,
    )
    model.save(tmp_path / "m.safetensors")
    loaded = fnn.load_model(tmp_path / "m.safetensors")
    assert loaded.dtype == np.float64 and loaded.optimizer is None
    assert loaded.layers[0].negative_slope == 0.2
    np.testing.assert_array_equal(loaded.get_weights(), model.get_weights())


def test_crash_during_save_keeps_previous_file(tmp_path, monkeypatch):
    model, x, _ = trained()
    path = tmp_path / "model.safetensors"
    model.save(path)
    before = path.read_bytes()
    model.fit(x, np.zeros(len(x), int), epochs=1, verbose=0)

    def crash(*args, **kwargs):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(persistence.os, "replace", crash)
    with pytest.raises(OSError, match="simulated"):
        model.save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.safetensors"]  # no temporary left behind


def test_crash_mid_write_keeps_previous_file(tmp_path, monkeypatch):
    model, _, _ = trained()
    path = tmp_path / "model.safetensors"
    model.save(path)
    before = path.read_bytes()

    def crash(fd):
        raise KeyboardInterrupt  # interrupted while flushing

    monkeypatch.setattr(persistence.os, "fsync", crash)
    with pytest.raises(KeyboardInterrupt):
        model.save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.safetensors"]


def test_truncated_file_raises_clear_error(tmp_path):
    model, _, _ = trained()
    path = tmp_path / "model.safetensors"
    model.save(path)
    data = path.read_bytes()
    for cut in (4, 100, len(data) - 10):
        (tmp_path / "cut.safetensors").write_bytes(data[:cut])
        with pytest.raises(
            ValueError, match="not a fastnn model file|corrupt or truncated"
        ):
            fnn.load_model(tmp_path / "cut.safetensors")


def test_foreign_files_raise_clear_error(tmp_path):
    (tmp_path / "text.safetensors").write_bytes(b"hello world, not a model at all")
    with pytest.raises(ValueError, match="not a fastnn model file"):
        fnn.load_model(tmp_path / "text.safetensors")
    from safetensors.numpy import save_file

    save_file({"w": np.zeros(3, np.float32)}, str(tmp_path / "plain.safetensors"))
    with pytest.raises(ValueError, match="without fastnn metadata"):
        fnn.load_model(tmp_path / "plain.safetensors")


def test_missing_file_raises_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        fnn.load_model(tmp_path / "nope.safetensors")
