"""Clear errors and safe behaviour on bad input to the model API."""

import io
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fastnn as fnn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def small(loss="cross_entropy", optimizer=None, outputs=3, layers=None):
    model = fnn.Sequential(
        layers or [fnn.Dense(4, 8, activation="relu"), fnn.Dense(8, outputs)], seed=0
    )
    return model.compile(optimizer or fnn.SGD(lr=0.1), loss)


@pytest.mark.parametrize("bad", [-0.5, 1.5, 2.0])
def test_binary_cross_entropy_refuses_targets_outside_0_1(rng, bad):
    model = small("binary_cross_entropy", outputs=2)
    x = rng.standard_normal((6, 4))
    y = rng.random((6, 2))
    y[3, 1] = bad
    for call in (
        lambda: model.fit(x, y, verbose=0),
        lambda: model.evaluate(x, y),
        lambda: model.train_on_batch(x, y),
    ):
        with pytest.raises(ValueError, match=r"y: targets must be in \[0.0, 1.0\]"):
            call()
    y[3, 1] = 1.0
    model.fit(x, y, verbose=0)  # the bounds themselves are fine


def test_mse_targets_may_be_any_real_number(rng):
    model = small("mse", outputs=2)
    model.fit(rng.standard_normal((6, 4)), 100 * rng.standard_normal((6, 2)), verbose=0)


@pytest.mark.parametrize(
    "optimizer", [lambda: fnn.SGD(lr=1e38), lambda: fnn.SGD(lr=1e38, momentum=0.9)]
)
def test_divergence_from_an_overflowing_update_leaves_every_weight_finite(
    rng, optimizer
):
    """lr=1e38 makes the update itself overflow: the weights it would make
    infinite keep their values, so the model is still usable afterwards."""
    model = small(optimizer=optimizer())
    x = rng.standard_normal((32, 4))
    y = rng.integers(0, 3, 32)
    with pytest.raises(fnn.DivergenceError, match="diverged") as info:
        model.fit(x, y, epochs=3, batch_size=8, seed=0, verbose=0)
    assert info.value.history is not None
    assert np.isfinite(model.get_weights()).all()
    for buf in model.optimizer.state.values():
        assert np.isfinite(buf).all()


def test_divergence_guard_keeps_exactly_the_refused_elements(rng):
    """Elements whose update stays finite move; the others keep old values.

    Zero weights, inputs 10, labels [0, 1]: the loss is finite (log 3) and
    dL/dW[:, j] = 10 * (-1/6, -1/6, 1/3)[j], so at lr=2e38 only column 2's
    update (-6.7e38) overflows float32."""
    model = small(optimizer=fnn.SGD(lr=2e38), layers=[fnn.Dense(4, 3)])
    model.set_weights(np.zeros(15, np.float32))
    with pytest.raises(
        fnn.DivergenceError, match="would have made some weights"
    ) as info:
        model.train_on_batch(np.full((2, 4), 10.0), np.array([0, 1]))
    assert "train_on_batch" in str(info.value)
    w, b = model.layers[0].W, model.layers[0].b
    assert np.isfinite(model.get_weights()).all()
    np.testing.assert_array_equal(w[:, 2], 0)  # refused: kept
    np.testing.assert_allclose(w[:, :2], 2e38 * 10 / 6, rtol=1e-6)  # moved
    np.testing.assert_allclose(b, 2e38 * np.array([1 / 6, 1 / 6, -1 / 3]), rtol=1e-6)


# lr / (1 - beta1) = 1e39 overflows float32 when cast: NumPy warns, the guard refuses
@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
def test_adam_divergence_guard(rng):
    model = small(optimizer=fnn.Adam(lr=1e38))
    x = rng.standard_normal((16, 4))
    y = rng.integers(0, 3, 16)
    model.set_weights(np.full(model.n_params, 3e38, np.float32) * 0.9)
    with pytest.raises(fnn.DivergenceError):
        model.fit(x, y, epochs=2, batch_size=8, seed=0, verbose=0)
    assert np.isfinite(model.get_weights()).all()


def test_gradient_check_works_on_models_with_dropout(rng):
    model = fnn.Sequential(
        [
            fnn.Dense(5, 12, activation="tanh"),
            fnn.Dropout(0.4),
            fnn.Dense(12, 3),
        ],
        seed=0,
    ).compile(loss="cross_entropy")
    x = rng.standard_normal((7, 5))
    y = rng.integers(0, 3, 7)
    check = fnn.gradient_check(model, x, y)
    assert check["checked"] > 0 and check["max_relative_error"] < 1e-6


@pytest.mark.parametrize("dtype", ["banana", int, "int32", "float16", [1]])
def test_bad_model_dtype_is_a_clear_value_error(dtype):
    with pytest.raises(ValueError, match="dtype: expected one of"):
        fnn.Sequential([fnn.Dense(2, 2)], dtype=dtype)


@pytest.mark.parametrize("loss", [["mse"], {"mse": 1}, None, 3, "hinge"])
def test_bad_loss_is_a_clear_value_error(loss):
    with pytest.raises(ValueError, match="loss: unknown"):
        fnn.Sequential([fnn.Dense(2, 2)]).compile(loss=loss)


def test_layers_must_be_a_list_of_layers():
    with pytest.raises(TypeError, match="layers: expected a list"):
        fnn.Sequential(fnn.Dense(2, 2))


def test_callbacks_may_implement_only_the_hooks_they_need(rng):
    model = small()
    x, y = rng.standard_normal((16, 4)), rng.integers(0, 3, 16)
    seen = []

    class OnlyEpochEnd:
        def on_epoch_end(self, model, epoch, logs):
            seen.append(epoch)

    class Stopper(fnn.Callback):
        def on_epoch_end(self, model, epoch, logs):
            return epoch == 1

    history = model.fit(
        x, y, epochs=5, verbose=0, callbacks=[OnlyEpochEnd(), Stopper()]
    )
    assert seen == [0, 1] and history.epoch == [0, 1]
    assert isinstance(fnn.EarlyStopping(), fnn.Callback)


@pytest.mark.parametrize("callbacks", [object(), [object()], fnn.Callback()])
def test_objects_that_are_not_callbacks_are_refused(rng, callbacks):
    model = small()
    with pytest.raises(TypeError, match="callbacks"):
        model.fit(rng.standard_normal((4, 4)), [0, 1, 2, 0], callbacks=callbacks)


def test_verbose_off_a_terminal_prints_one_line_per_epoch(rng, capsys):
    """A progress bar redrawn into a log file is one huge line."""
    model = small()
    x, y = rng.standard_normal((2000, 4)), rng.integers(0, 3, 2000)
    model.fit(x, y, epochs=3, batch_size=4, verbose=1, seed=0)
    err = capsys.readouterr()
    text = err.out + err.err
    assert "\r" not in text
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 3 and all(line.startswith("Epoch ") for line in lines)


def test_verbose_on_a_terminal_shows_the_progress_bar(rng, monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    model = small()
    x, y = rng.standard_normal((64, 4)), rng.integers(0, 3, 64)
    model.fit(x, y, epochs=1, batch_size=4, verbose=1, seed=0)
    assert "\r" in terminal.getvalue()  # tqdm redraws in place


@pytest.mark.parametrize("verbose", [3, -1, "yes"])
def test_bad_verbose_is_refused(rng, verbose):
    with pytest.raises(ValueError, match="verbose"):
        small().fit(rng.standard_normal((4, 4)), [0, 1, 2, 0], verbose=verbose)


def test_source_tree_is_importable_without_an_install(tmp_path):
    """Python started in a clone's root imports the source fastnn/, which
    has no kernels/ inside; it must still work (it used to fail with a
    circular-import error when fastnn was installed non-editable)."""
    script = textwrap.dedent(
        f"""
        import sys
        # hide installed copies: only the source tree may provide fastnn
        sys.meta_path[:] = [f for f in sys.meta_path
                            if "editable" not in type(f).__module__.lower()]
        sys.path.insert(0, {ROOT!r})
        import fastnn
        assert fastnn.__file__.startswith({ROOT!r}), fastnn.__file__
        assert fastnn.kernels.__file__.startswith({ROOT!r})
        from fastnn.kernels import cpu
        model = fastnn.Sequential([fastnn.Dense(2, 2)], seed=0)
        print(model.predict([[1.0, 2.0]]).shape)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "(1, 2)"


@pytest.mark.parametrize(
    "make",
    [
        lambda: fnn.Dense(2, 2, negative_slope=float("nan")),
        lambda: fnn.Dense(2, 2, negative_slope=-0.1),
        lambda: fnn.LeakyReLU(float("inf")),
        lambda: fnn.Dropout(float("nan")),
        lambda: fnn.Dropout(1.0),
        lambda: fnn.Dropout("0.5"),
    ],
)
def test_layer_hyperparameters_must_be_finite_and_in_range(make):
    with pytest.raises((ValueError, TypeError), match="negative_slope|p:"):
        make()
