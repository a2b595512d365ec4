import numpy as np
import pytest

import fastnn as fnn
from fastnn import _compiled_epoch


def blobs(rng, n=240, features=6, classes=3):
    """Separable Gaussian clusters: a problem an MLP learns in a few epochs."""
    centers = rng.standard_normal((classes, features)) * 3
    labels = rng.integers(0, classes, n)
    x = centers[labels] + rng.standard_normal((n, features))
    return x.astype(np.float32), labels


def mlp(features=6, classes=3, hidden=16, seed=None, **kwargs):
    return fnn.Sequential(
        [fnn.Dense(features, hidden, activation="relu"), fnn.Dense(hidden, classes)],
        seed=seed,
        **kwargs,
    )


def compiled(model, optimizer=None):
    return model.compile(
        optimizer=optimizer or fnn.SGD(lr=0.1, momentum=0.9),
        loss="cross_entropy",
        metrics=["accuracy"],
    )


def test_fit_learns_and_reports_history(rng):
    x, y = blobs(rng)
    model = compiled(mlp())
    history = model.fit(x, y, epochs=8, batch_size=16, seed=0, verbose=0)
    assert history.epoch == list(range(8))
    assert history["loss"][-1] < history["loss"][0] / 3
    assert history["accuracy"][-1] > 0.95
    result = model.evaluate(x, y)
    assert set(result) == {"loss", "accuracy"} and result["accuracy"] > 0.95
    assert model.epochs_trained == 8


@pytest.mark.parametrize("batch_size", [1, 7, 240])
def test_stochastic_minibatch_and_full_batch_descent(rng, batch_size):
    x, y = blobs(rng)
    model = compiled(mlp(), fnn.SGD(lr=0.05))
    before = model.fit(x, y, epochs=1, batch_size=batch_size, seed=0, verbose=0)
    after = model.fit(x, y, epochs=15, batch_size=batch_size, seed=0, verbose=0)
    assert after["loss"][-1] < before["loss"][0]


def test_full_batch_step_is_one_gradient_descent_step(rng):
    """batch_size=len(x): one SGD step of the full-data mean gradient."""
    x, y = blobs(rng, n=20)
    model = compiled(mlp(seed=3), fnn.SGD(lr=0.1))
    grad_model = compiled(mlp(seed=3))
    w0 = model.get_weights()
    model.fit(x, y, epochs=1, batch_size=len(x), shuffle=False, seed=0, verbose=0)
    check = fnn.gradient_check(grad_model, x, y, max_params=1)
    assert check["max_relative_error"] < 1e-5
    # the analytic gradient used by gradient_check equals (w0 - w1) / lr
    from fastnn._workspace import Workspace

    bufs = Workspace(grad_model, len(x), with_grads=True).rows(len(x))
    bufs.acts[0][:] = x
    bufs.targets[:] = y
    grad_model._forward(bufs, bufs.acts[0], training=True)
    grad_model.loss(
        grad_model._backend.ops, bufs.acts[-1], bufs.targets, bufs.grads[-1]
    )
    grad_model._backward(bufs, bufs.acts[0])
    np.testing.assert_allclose(
        (w0 - model.get_weights()) / 0.1, grad_model.grads, rtol=1e-3, atol=1e-6
    )


def test_fused_pair_equals_dense_activation(rng):
    x = rng.standard_normal((5, 4)).astype(np.float32)
    fused = fnn.Sequential([fnn.Dense(4, 3, init="he"), fnn.ReLU()], seed=1)
    plain = fnn.Sequential([fnn.Dense(4, 3, activation="relu")], seed=1)
    assert len(fused._stages) == 1  # one kernel call
    np.testing.assert_array_equal(fused.predict(x), plain.predict(x))


@pytest.mark.parametrize(
    "act_layer",
    [fnn.ReLU(), fnn.LeakyReLU(0.1), fnn.Sigmoid(), fnn.Tanh(), fnn.Softmax()],
)
def test_standalone_activation_layers(rng, act_layer):
    x = rng.standard_normal((5, 4))
    model = fnn.Sequential(
        [fnn.Dense(4, 3, activation="tanh"), act_layer], dtype="float64", seed=0
    )
    z = np.tanh(x @ model.layers[0].W + model.layers[0].b)
    name = type(act_layer).__name__
    expected = {
        "ReLU": np.maximum(z, 0),
        "LeakyReLU": np.where(z > 0, z, 0.1 * z),
        "Sigmoid": 1 / (1 + np.exp(-z)),
        "Tanh": np.tanh(z),
        "Softmax": np.exp(z) / np.exp(z).sum(1, keepdims=True),
    }[name]
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-12)
    model.compile(loss="mse")
    check = fnn.gradient_check(model, x, rng.standard_normal((5, 3)))
    assert check["max_relative_error"] < 1e-6


def test_dropout_is_identity_at_inference_and_random_in_training(rng):
    x = np.ones((50, 4), np.float32)
    model = fnn.Sequential(
        [fnn.Dense(4, 20, activation="relu"), fnn.Dropout(0.5), fnn.Dense(20, 2)],
        seed=0,
    )
    np.testing.assert_array_equal(model.predict(x), model.predict(x))
    compiled(model)
    y = rng.integers(0, 2, 50)
    history = model.fit(x, y, epochs=2, batch_size=10, seed=0, verbose=0)
    assert np.isfinite(history["loss"]).all()
    # the last training batch's activations before and after the Dropout:
    # about half the positive units zeroed, the others doubled
    bufs = model._train_ws.rows(10)
    before, after = bufs.acts[1], bufs.acts[2]
    alive = before > 0
    kept = after[alive] != 0
    assert 0 < np.mean(kept) < 1  # a real mask was drawn
    np.testing.assert_array_equal(after[alive][kept], before[alive][kept] * 2)
    assert np.all(after[~alive] == 0)


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "sigmoid", "tanh", None])
@pytest.mark.parametrize("loss", ["cross_entropy", "mse", "binary_cross_entropy"])
def test_gradient_check_passes_for_every_activation_and_loss(rng, activation, loss):
    model = fnn.Sequential(
        [
            fnn.Dense(5, 7, activation=activation),
            fnn.Dense(7, 6, activation=activation),
            fnn.Dense(6, 3),
        ],
        dtype="float64",
        seed=2,
    )
    # keep relu pre-activations away from the kink
    model.layers[0].b[:] = 0.3
    x = rng.standard_normal((8, 5))
    y = {
        "cross_entropy": rng.integers(0, 3, 8),
        "mse": rng.standard_normal((8, 3)),
        "binary_cross_entropy": rng.integers(0, 2, (8, 3)).astype(float),
    }[loss]
    check = fnn.gradient_check(model, x, y, loss=loss)
    assert check["checked"] > 50
    # finite differences in float64 at eps=1e-5 carry ~1e-11 of rounding noise,
    # ~1e-6 relative on the smallest components; a wrong gradient gives ~1e-1
    assert check["max_relative_error"] < 1e-5


def test_same_seed_gives_identical_weights(rng):
    x, y = blobs(rng)
    runs = []
    for _ in range(2):
        model = compiled(
            fnn.Sequential(
                [
                    fnn.Dense(6, 16, activation="relu"),
                    fnn.Dropout(0.2),
                    fnn.Dense(16, 3),
                ]
            )
        )
        model.fit(x, y, epochs=3, batch_size=32, seed=42, verbose=0)
        runs.append(model.get_weights())
    np.testing.assert_array_equal(runs[0], runs[1])
    other = compiled(mlp())
    other.fit(x, y, epochs=1, batch_size=32, seed=43, verbose=0)
    assert other.get_weights().size == mlp().n_params


def test_validation_split_and_data(rng):
    x, y = blobs(rng)
    model = compiled(mlp())
    history = model.fit(
        x, y, epochs=2, batch_size=32, validation_split=0.25, seed=0, verbose=0
    )
    assert {"val_loss", "val_accuracy"} <= set(history.history)
    history = model.fit(
        x,
        y,
        epochs=1,
        batch_size=32,
        validation_data=(x[:10], y[:10]),
        seed=0,
        verbose=0,
    )
    assert len(history["val_loss"]) == 1
    with pytest.raises(ValueError, match="either validation_data or validation_split"):
        model.fit(x, y, validation_data=(x, y), validation_split=0.1, verbose=0)


def test_early_stopping_restores_best_weights(rng):
    x, y = blobs(rng)
    model = compiled(mlp(), fnn.SGD(lr=0.5, momentum=0.9))
    stopper = fnn.EarlyStopping(monitor="val_loss", patience=1)
    seen = []

    class Recorder:
        def on_train_begin(self, model):
            pass

        def on_epoch_end(self, model, epoch, logs):
            seen.append((logs["val_loss"], model.get_weights()))
            return False

        def on_train_end(self, model):
            pass

    history = model.fit(
        x[:200],
        y[:200],
        epochs=40,
        batch_size=8,
        seed=0,
        verbose=0,
        validation_data=(x[200:], y[200:]),
        callbacks=[stopper, Recorder()],
    )
    assert stopper.stopped_epoch is not None and len(history.epoch) < 40
    best_loss, best_weights = min(seen, key=lambda item: item[0])
    np.testing.assert_array_equal(model.get_weights(), best_weights)


def test_divergence_stops_with_clear_error_and_keeps_last_good_weights(rng):
    x, y = blobs(rng)
    x *= 1e3
    model = compiled(mlp(seed=0), fnn.SGD(lr=1e3))
    weights = []

    original_step = model.optimizer.step

    def recording_step(*args, **kwargs):
        refused = original_step(*args, **kwargs)
        weights.append(model.get_weights())
        return refused

    model.optimizer.step = recording_step
    with pytest.raises(fnn.DivergenceError, match="diverged"):
        model.fit(x, y, epochs=5, batch_size=16, seed=0, verbose=0)
    assert np.isfinite(model.get_weights()).all() or not weights
    if weights:
        np.testing.assert_array_equal(model.get_weights(), weights[-1])


def test_predict_returns_logits_array(rng):
    model = mlp(seed=0)
    x = rng.standard_normal((7, 6))
    out = model.predict(x)
    assert (
        isinstance(out, np.ndarray) and out.shape == (7, 3) and out.dtype == np.float32
    )
    w0, b0 = model.layers[0].W, model.layers[0].b
    w1, b1 = model.layers[1].W, model.layers[1].b
    expected = np.maximum(x @ w0 + b0, 0) @ w1 + b1
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(model.predict(x.tolist()), out)


def test_summary_lists_layers_and_parameter_counts(capsys):
    model = fnn.Sequential(
        [fnn.Dense(784, 512, activation="relu"), fnn.Dropout(0.1), fnn.Dense(512, 10)]
    )
    model.summary()
    text = capsys.readouterr().out
    assert "401,920" in text and "5,130" in text and "Total params: 407,050" in text
    assert "Dropout" in text


def test_training_step_reuses_buffers(rng):
    x, y = blobs(rng, n=64)
    model = compiled(mlp())
    model.fit(x, y, epochs=1, batch_size=16, seed=0, verbose=0)
    workspace = model._train_ws
    ids = [id(a) for a in workspace.rows(16).acts]
    model.fit(x, y, epochs=1, batch_size=16, seed=0, verbose=0)
    assert model._train_ws is workspace
    assert [id(a) for a in model._train_ws.rows(16).acts] == ids


def test_mse_regression_and_binary_classification(rng):
    x = rng.standard_normal((200, 3)).astype(np.float32)
    target = x @ np.array([[1.0], [-2.0], [0.5]], np.float32)
    reg = fnn.Sequential([fnn.Dense(3, 16, activation="tanh"), fnn.Dense(16, 1)])
    reg.compile(optimizer=fnn.Adam(lr=0.01), loss="mse")
    history = reg.fit(x, target[:, 0], epochs=30, batch_size=20, seed=0, verbose=0)
    assert history["loss"][-1] < 0.05 * history["loss"][0]
    labels = (x[:, :1] > 0).astype(np.float32)
    clf = fnn.Sequential([fnn.Dense(3, 8, activation="relu"), fnn.Dense(8, 1)])
    clf.compile(
        optimizer=fnn.AdamW(lr=0.01),
        loss=fnn.BinaryCrossEntropy(),
        metrics=["accuracy"],
    )
    clf.fit(x, labels, epochs=30, batch_size=20, seed=0, verbose=0)
    assert clf.evaluate(x, labels)["accuracy"] > 0.95


def test_progress_bar_shown_and_silenced(rng, capsys):
    x, y = blobs(rng, n=64)
    model = compiled(mlp())
    model.fit(x, y, epochs=1, batch_size=16, seed=0, verbose=1)
    captured = capsys.readouterr()
    assert "Epoch 1/1" in captured.err + captured.out
    model.fit(x, y, epochs=1, batch_size=16, seed=0, verbose=0)
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


def test_lr_schedules():
    step = fnn.StepDecay(step_size=2, gamma=0.5)
    assert [step(1.0, e) for e in range(5)] == [1.0, 1.0, 0.5, 0.5, 0.25]
    cosine = fnn.CosineDecay(total_epochs=4, eta_min=0.1)
    values = [cosine(1.0, e) for e in range(6)]
    assert values[0] == pytest.approx(1.0) and values[2] == pytest.approx(0.55)
    assert values[4] == pytest.approx(0.1) and values[5] == pytest.approx(0.1)


def test_schedule_drives_the_optimizer_learning_rate(rng):
    """Epoch 2 of StepDecay(1, 1e-4) steps exactly like a plain SGD at
    lr = 0.1 * 1e-4 (plain SGD keeps no state between epochs)."""
    x, y = blobs(rng, n=32)
    scheduled = compiled(
        mlp(seed=0), fnn.SGD(lr=0.1, schedule=fnn.StepDecay(1, 0.0001))
    )
    scheduled.fit(x, y, epochs=2, batch_size=8, seed=0, verbose=0)
    manual = compiled(mlp(seed=0), fnn.SGD(lr=0.1))
    manual.fit(x, y, epochs=1, batch_size=8, seed=0, verbose=0)
    manual.compile(fnn.SGD(lr=0.1 * 0.0001), "cross_entropy", ["accuracy"])
    manual.fit(x, y, epochs=1, batch_size=8, seed=0, verbose=0)
    np.testing.assert_array_equal(scheduled.get_weights(), manual.get_weights())


def test_train_on_batch_takes_one_step(rng):
    x, y = blobs(rng, n=16)
    model = compiled(mlp(seed=0), fnn.SGD(lr=0.1))
    twin = compiled(mlp(seed=0), fnn.SGD(lr=0.1))
    before = model.evaluate(x, y)["loss"]
    loss = model.train_on_batch(x, y)
    twin.fit(x, y, epochs=1, batch_size=16, shuffle=False, seed=0, verbose=0)
    np.testing.assert_array_equal(model.get_weights(), twin.get_weights())
    assert loss == pytest.approx(before, rel=1e-6)  # the loss before the step
    assert model.optimizer.steps == 1 and model.epochs_trained == 0
    with pytest.raises(ValueError, match="labels must be in"):
        model.train_on_batch(x, y + 5)


def test_cuda_device_without_gpu_explains_why():
    from numba import cuda

    if cuda.is_available():
        pytest.skip("a GPU (or the simulator) is present")
    with pytest.raises(
        RuntimeError, match="device='cuda' is unavailable: no CUDA device found"
    ):
        fnn.Sequential([fnn.Dense(2, 2)], device="cuda")
    with pytest.raises(RuntimeError, match="unavailable"):
        fnn.Sequential([fnn.Dense(2, 2)]).to("cuda")


def test_one_call_dense_stack_step_equals_layer_by_layer(rng, monkeypatch):
    """Plain Dense stacks with cross-entropy train through one fused kernel
    call per step; it must match the layer-by-layer path exactly, in fit's
    compiled loop (stage by stage there) and step by step in Python."""

    def make():
        return compiled(
            fnn.Sequential(
                [
                    fnn.Dense(6, 16, activation="leaky_relu"),
                    fnn.Dense(16, 8),
                    fnn.Tanh(),
                    fnn.Dense(8, 3),
                ],
                seed=4,
            )
        )

    x, y = blobs(rng)
    fused, staged, python = make(), make(), make()
    assert fused._stack_params is not None
    staged._stack_params = python._stack_params = None  # force layer by layer
    h1 = fused.fit(x, y, epochs=3, batch_size=16, seed=0, verbose=0)
    h2 = staged.fit(x, y, epochs=3, batch_size=16, seed=0, verbose=0)
    monkeypatch.setattr(_compiled_epoch, "plan", lambda model, weights: False)
    h3 = python.fit(x, y, epochs=3, batch_size=16, seed=0, verbose=0)
    for other, history in ((staged, h2), (python, h3)):
        np.testing.assert_array_equal(fused.get_weights(), other.get_weights())
        assert h1["loss"] == history["loss"]


def test_one_call_inference_matches_layer_by_layer(rng):
    """predict/evaluate of a plain dense stack run one kernel call; the
    outputs are bit-identical to the layer-by-layer forward."""
    layers = lambda: [  # noqa: E731
        fnn.Dense(6, 16, activation="leaky_relu"),
        fnn.Dense(16, 8),
        fnn.Tanh(),
        fnn.Dense(8, 3),
    ]
    fused = compiled(fnn.Sequential(layers(), seed=4))
    plain = compiled(fnn.Sequential(layers(), seed=4))
    plain._stack_params = None  # force the layer-by-layer path
    x = rng.standard_normal((37, 6)).astype(np.float32)
    y = rng.integers(0, 3, 37)
    for batch in (1, 8, 1024):
        np.testing.assert_array_equal(
            fused.predict(x, batch_size=batch), plain.predict(x, batch_size=batch)
        )
        assert fused.evaluate(x, y, batch_size=batch) == plain.evaluate(
            x, y, batch_size=batch
        )
    before = x.copy()
    fused.predict(x)
    np.testing.assert_array_equal(x, before)  # the input is read, never written


def test_fused_step_not_used_with_dropout_or_other_losses():
    with_dropout = fnn.Sequential(
        [fnn.Dense(2, 4), fnn.Dropout(0.5), fnn.Dense(4, 2)], seed=0
    )
    assert with_dropout._stack_params is None
    mse_model = fnn.Sequential([fnn.Dense(2, 2)], seed=0).compile(loss="mse")
    x = np.zeros((4, 2))
    mse_model.fit(x, np.zeros((4, 2)), epochs=1, verbose=0)  # generic path still works
