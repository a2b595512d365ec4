"""Models on device="cuda": training, prediction, save/load, moving."""

import numpy as np
import pytest

import fastnn as fnn


def data(rng, n=24):
    x = rng.standard_normal((n, 4)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    return x, y


def model_on(device, seed=0):
    model = fnn.Sequential(
        [fnn.Dense(4, 6, activation="tanh"), fnn.Dense(6, 2)], device=device, seed=seed
    )
    return model.compile(
        optimizer=fnn.SGD(lr=0.2, momentum=0.9),
        loss="cross_entropy",
        metrics=["accuracy"],
    )


def test_gpu_training_matches_cpu_first_steps_and_learns(rng):
    x, y = data(rng)
    gpu, cpu = model_on("cuda"), model_on("cpu")
    h_gpu = gpu.fit(x, y, epochs=3, batch_size=8, seed=1, verbose=0)
    h_cpu = cpu.fit(x, y, epochs=3, batch_size=8, seed=1, verbose=0)
    np.testing.assert_allclose(h_gpu["loss"], h_cpu["loss"], rtol=1e-4)
    np.testing.assert_allclose(
        gpu.get_weights(), cpu.get_weights(), rtol=1e-4, atol=1e-5
    )
    assert h_gpu["loss"][-1] < h_gpu["loss"][0]
    out = gpu.predict(x)
    assert isinstance(out, np.ndarray)
    np.testing.assert_allclose(out, cpu.predict(x), rtol=1e-4, atol=1e-5)
    assert gpu.evaluate(x, y)["accuracy"] == pytest.approx(
        cpu.evaluate(x, y)["accuracy"]
    )


def test_save_from_gpu_load_on_either_device(rng, tmp_path):
    x, y = data(rng)
    gpu = model_on("cuda")
    gpu.fit(x, y, epochs=1, batch_size=8, seed=0, verbose=0)
    gpu.save(tmp_path / "m.safetensors")
    on_cpu = fnn.load_model(tmp_path / "m.safetensors")
    on_gpu = fnn.load_model(tmp_path / "m.safetensors", device="cuda")
    np.testing.assert_array_equal(on_cpu.get_weights(), gpu.get_weights())
    np.testing.assert_allclose(
        on_gpu.predict(x), on_cpu.predict(x), rtol=1e-5, atol=1e-6
    )


def test_to_moves_weights_and_optimizer_state(rng):
    x, y = data(rng)
    model = model_on("cpu")
    model.fit(x, y, epochs=1, batch_size=8, seed=0, verbose=0)
    weights = model.get_weights()
    velocity = model.optimizer.state["velocity"].copy()
    model.to("cuda")
    assert model.device == "cuda"
    np.testing.assert_array_equal(model.get_weights(), weights)
    np.testing.assert_array_equal(
        model.optimizer.state["velocity"].copy_to_host(), velocity
    )
    model.fit(x, y, epochs=1, batch_size=8, seed=0, verbose=0)
    model.to("cpu")
    assert isinstance(model.get_weights(), np.ndarray)


def test_dropout_on_gpu_uses_the_cpu_masks(rng):
    x, y = data(rng)

    def layers():
        return [
            fnn.Dense(4, 6, activation="relu"),
            fnn.Dropout(0.3),
            fnn.Dense(6, 2),
        ]

    runs = []
    for device in ("cpu", "cuda"):
        m = fnn.Sequential(layers(), device=device, seed=0)
        m.compile(optimizer="sgd", loss="cross_entropy")
        m.fit(x, y, epochs=1, batch_size=8, seed=3, verbose=0)
        runs.append(m.get_weights())
    np.testing.assert_allclose(runs[0], runs[1], rtol=1e-4, atol=1e-6)
