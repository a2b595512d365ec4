"""fit's compiled runs of full batches train bit for bit like the step-by-step
path (the same kernels, in the same order)."""

import io
import sys

import numpy as np
import pytest

import fastnn as fnn
from fastnn import _compiled_epoch

OPTIMIZERS = {
    "sgd": lambda: fnn.SGD(lr=0.05),
    "momentum": lambda: fnn.SGD(lr=0.05, momentum=0.9, weight_decay=1e-3),
    "nesterov": lambda: fnn.SGD(lr=0.05, momentum=0.9, nesterov=True),
    "adam": lambda: fnn.Adam(lr=0.01, weight_decay=1e-3),
    "adamw-cosine": lambda: fnn.AdamW(lr=0.01, schedule=fnn.CosineDecay(3)),
}


def net(optimizer, dtype="float32", input_scale=None):
    model = fnn.Sequential(
        [
            fnn.Dense(10, 24, activation="relu"),
            fnn.Dense(24, 24),
            fnn.Tanh(),
            fnn.Dense(24, 4),
        ],
        dtype=dtype,
        seed=0,
        input_scale=input_scale,
    )
    return model.compile(OPTIMIZERS[optimizer](), "cross_entropy", ["accuracy"])


def both_paths(monkeypatch, make, fit):
    """(compiled model, step-by-step model, their histories)."""
    fast, slow = make(), make()
    h_fast = fit(fast)
    with monkeypatch.context() as patch:
        patch.setattr(_compiled_epoch, "plan", lambda model, weights: False)
        h_slow = fit(slow)
    return fast, slow, h_fast, h_slow


def weighted_fits(monkeypatch, make, x, y, weights):
    """``both_paths`` for three epochs of batch 8 with ``weights``, checking
    that the compiled loop ran."""
    runs, run = [], _compiled_epoch.CompiledSteps.run
    monkeypatch.setattr(
        _compiled_epoch.CompiledSteps,
        "run",
        lambda self, *args: runs.append(args) or run(self, *args),
    )
    result = both_paths(
        monkeypatch,
        make,
        lambda m: m.fit(
            x, y, epochs=3, batch_size=8, seed=5, verbose=0, sample_weight=weights
        ),
    )
    assert runs  # the compiled loop ran
    return result


def assert_same(fast, slow, h_fast, h_slow):
    assert h_fast["loss"] == h_slow["loss"]
    assert h_fast.history.get("accuracy") == h_slow.history.get("accuracy")
    np.testing.assert_array_equal(fast.get_weights(), slow.get_weights())
    assert fast.optimizer.steps == slow.optimizer.steps
    for name, state in slow.optimizer.state.items():
        np.testing.assert_array_equal(fast.optimizer.state[name], state)


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
@pytest.mark.parametrize("n", [96, 101])  # full batches only, and a shorter last one
def test_compiled_runs_match_the_step_path(rng, monkeypatch, optimizer, n):
    x = rng.standard_normal((n, 10)).astype(np.float32)
    y = rng.integers(0, 4, n)
    fast, slow, h_fast, h_slow = both_paths(
        monkeypatch,
        lambda: net(optimizer),
        lambda m: m.fit(x, y, epochs=3, batch_size=16, seed=7, verbose=0),
    )
    assert_same(fast, slow, h_fast, h_slow)
    assert fast.evaluate(x, y) == slow.evaluate(x, y)


@pytest.mark.parametrize("shuffle", [True, False])
def test_float64_uint8_and_unshuffled_data_match_too(rng, monkeypatch, shuffle):
    x = rng.integers(0, 256, (70, 10), dtype=np.uint8)
    y = rng.integers(0, 4, 70)
    fast, slow, h_fast, h_slow = both_paths(
        monkeypatch,
        lambda: net("momentum", "float64", input_scale=1 / 255),
        lambda m: m.fit(
            x, y, epochs=2, batch_size=9, seed=1, shuffle=shuffle, verbose=0
        ),
    )
    assert_same(fast, slow, h_fast, h_slow)


def test_runs_returning_for_the_progress_bar_change_nothing(rng, monkeypatch):
    """On a terminal, fit returns to Python every few steps to move the bar."""

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    x = rng.standard_normal((400, 10)).astype(np.float32)
    y = rng.integers(0, 4, 400)
    monkeypatch.setattr(sys, "stderr", Terminal())
    fast, slow, h_fast, h_slow = both_paths(
        monkeypatch,
        lambda: net("adam"),
        lambda m: m.fit(x, y, epochs=2, batch_size=4, seed=2, verbose=1),
    )
    assert_same(fast, slow, h_fast, h_slow)


def linear(optimizer="sgd"):
    model = fnn.Sequential([fnn.Dense(10, 4, init="zeros")], seed=0)
    return model.compile(OPTIMIZERS[optimizer](), "cross_entropy", ["accuracy"])


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning")
@pytest.mark.parametrize(
    "make, scale, lr, cause",
    [
        (lambda: net("sgd"), 1e3, 3e38, "the loss became nan"),  # step 2's loss
        (linear, 10.0, 2e38, "the update at epoch 1, step 1"),  # refused update
    ],
)
def test_divergence_inside_a_run_matches_the_step_path(
    rng, monkeypatch, make, scale, lr, cause
):
    x = (scale * rng.standard_normal((64, 10))).astype(np.float32)
    y = rng.integers(0, 4, 64)
    errors = []

    def fit(m):
        m.compile(fnn.SGD(lr=lr, momentum=0.9), "cross_entropy", ["accuracy"])
        with pytest.raises(fnn.DivergenceError) as info:
            m.fit(x, y, epochs=5, batch_size=8, seed=0, verbose=0)
        errors.append(str(info.value))
        return info.value.history

    fast, slow, _, _ = both_paths(monkeypatch, make, fit)
    assert errors[0] == errors[1] and cause in errors[0]
    np.testing.assert_array_equal(fast.get_weights(), slow.get_weights())
    assert fast.optimizer.steps == slow.optimizer.steps
    for name, state in slow.optimizer.state.items():
        np.testing.assert_array_equal(fast.optimizer.state[name], state)
    assert np.isfinite(fast.get_weights()).all()


def test_the_compiled_path_is_taken_for_dense_networks_with_dropout(rng):
    plain = net("sgd")
    plain.build(0)
    assert _compiled_epoch.plan(plain, None)
    assert _compiled_epoch.plan(plain, np.ones(3))  # sample weights run compiled
    dropout = fnn.Sequential(
        [fnn.Dense(3, 4), fnn.Dropout(0.5), fnn.Dense(4, 2)], seed=0
    )
    dropout.compile(fnn.SGD(lr=0.1), "cross_entropy")
    assert _compiled_epoch.plan(dropout, None)
    # an activation that no Dense absorbs is a stage of its own: step by step
    loose = fnn.Sequential(
        [fnn.Dense(3, 4), fnn.Dropout(0.5), fnn.ReLU(), fnn.Dense(4, 2)], seed=0
    )
    loose.compile(fnn.SGD(lr=0.1), "cross_entropy")
    assert not _compiled_epoch.plan(loose, None)
    for loss in ("mse", "binary_cross_entropy"):
        values = net("sgd").compile(fnn.SGD(lr=0.1), loss)
        values.build(0)
        assert _compiled_epoch.plan(values, None)


def dropout_net(optimizer, loss="cross_entropy", dtype="float32", rates=(0.3, 0.5)):
    """Dropout after each hidden layer (widths 24 and 16: noise blocks of
    different sizes); rates (0.3, 0.5)."""
    model = fnn.Sequential(
        [
            fnn.Dense(10, 24, activation="relu"),
            fnn.Dropout(rates[0]),
            fnn.Dense(24, 16),
            fnn.Tanh(),
            fnn.Dropout(rates[1]),
            fnn.Dense(16, 4),
        ],
        dtype=dtype,
        seed=0,
    )
    metrics = [] if loss == "mse" else ["accuracy"]
    return model.compile(OPTIMIZERS[optimizer](), loss, metrics)


def targets_for(loss, rng, n, dtype):
    if loss == "cross_entropy":
        return rng.integers(0, 4, n)
    if loss == "mse":
        return rng.standard_normal((n, 4)).astype(dtype)
    return (rng.random((n, 4)) < 0.5).astype(dtype)


@pytest.mark.parametrize("loss", ["cross_entropy", "mse", "binary_cross_entropy"])
@pytest.mark.parametrize("optimizer", ["nesterov", "adamw-cosine"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("weighted", [False, True])
def test_dropout_networks_match_the_step_path(
    rng, monkeypatch, loss, optimizer, dtype, weighted
):
    n = 75  # 9 full batches of 8 and a last one of 3
    x = rng.standard_normal((n, 10)).astype(dtype)
    y = targets_for(loss, rng, n, dtype)
    weights = rng.random(n) if weighted else None
    fast, slow, h_fast, h_slow = weighted_fits(
        monkeypatch, lambda: dropout_net(optimizer, loss, dtype), x, y, weights
    )
    assert_same(fast, slow, h_fast, h_slow)


def test_dropout_noise_drawn_in_pieces_is_the_same_noise(rng, monkeypatch):
    """A long run draws its noise a piece at a time (here two steps of 5
    rows x 40 noise values): the stream is the step-by-step path's."""
    n = 203
    x = rng.standard_normal((n, 10)).astype(np.float32)
    y = rng.integers(0, 4, n)
    monkeypatch.setattr(_compiled_epoch, "NOISE_VALUES", 3 * 5 * 40 - 1)
    fast, slow, h_fast, h_slow = both_paths(
        monkeypatch,
        lambda: dropout_net("adam"),
        lambda m: m.fit(x, y, epochs=2, batch_size=5, seed=3, verbose=0),
    )
    assert_same(fast, slow, h_fast, h_slow)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_odd_noise_blocks_draw_the_same_stream(rng, monkeypatch, dtype):
    """Batches whose noise is an odd number of values (5 rows x 7 units):
    float32 noise takes 32-bit halves of the generator's 64-bit outputs, and
    a draw that ends on a half must leave the rest to the next draw, in
    pieces as in one go."""

    def make():
        model = fnn.Sequential(
            [fnn.Dense(10, 7, activation="relu"), fnn.Dropout(0.3), fnn.Dense(7, 3)],
            dtype=dtype,
            seed=0,
        )
        return model.compile(OPTIMIZERS["adam"](), "cross_entropy", ["accuracy"])

    x = rng.standard_normal((58, 10)).astype(dtype)  # 11 batches of 5, then 3
    y = rng.integers(0, 3, 58)
    monkeypatch.setattr(_compiled_epoch, "NOISE_VALUES", 3 * 5 * 7 - 1)  # 2 steps
    fast, slow, h_fast, h_slow = both_paths(
        monkeypatch,
        make,
        lambda m: m.fit(x, y, epochs=2, batch_size=5, seed=4, verbose=0),
    )
    assert_same(fast, slow, h_fast, h_slow)


def test_a_zero_dropout_rate_trains_as_no_dropout(rng):
    """Dropout(0) keeps every unit unscaled: the compiled run of a network
    with it equals the same network without it (another check that the
    dropout stage passes values and gradients through the right buffers)."""
    x = rng.standard_normal((64, 10)).astype(np.float64)
    y = rng.integers(0, 4, 64)
    with_zero = dropout_net("momentum", dtype="float64", rates=(0.0, 0.0))
    without = fnn.Sequential(
        [
            fnn.Dense(10, 24, activation="relu"),
            fnn.Dense(24, 16),
            fnn.Tanh(),
            fnn.Dense(16, 4),
        ],
        dtype="float64",
        seed=0,
    ).compile(OPTIMIZERS["momentum"](), "cross_entropy", ["accuracy"])
    h_zero = with_zero.fit(x, y, epochs=2, batch_size=16, seed=1, verbose=0)
    h_without = without.fit(x, y, epochs=2, batch_size=16, seed=1, verbose=0)
    np.testing.assert_array_equal(with_zero.get_weights(), without.get_weights())
    assert h_zero["loss"] == h_without["loss"]


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning")
def test_dropout_divergence_inside_a_run_matches_the_step_path(rng, monkeypatch):
    x = (1e3 * rng.standard_normal((64, 10))).astype(np.float32)
    y = rng.integers(0, 4, 64)
    errors = []

    def fit(m):
        m.compile(fnn.SGD(lr=3e38, momentum=0.9), "cross_entropy", ["accuracy"])
        with pytest.raises(fnn.DivergenceError) as info:
            m.fit(x, y, epochs=5, batch_size=8, seed=0, verbose=0)
        errors.append(str(info.value))
        return info.value.history

    fast, slow, _, _ = both_paths(monkeypatch, lambda: dropout_net("sgd"), fit)
    assert errors[0] == errors[1]
    np.testing.assert_array_equal(fast.get_weights(), slow.get_weights())
    assert fast.optimizer.steps == slow.optimizer.steps
    assert np.isfinite(fast.get_weights()).all()


@pytest.mark.parametrize("make", [lambda: net("adam"), lambda: dropout_net("adam")])
def test_the_whole_epoch_runs_compiled_the_last_batch_too(rng, monkeypatch, make):
    model = make()

    def refuse(*args, **kwargs):
        raise AssertionError("a step went through the step-by-step path")

    monkeypatch.setattr(type(model), "_train_step", refuse)
    x = rng.standard_normal((101, 10)).astype(np.float32)
    history = model.fit(x, rng.integers(0, 4, 101), epochs=2, batch_size=16, verbose=0)
    assert model.optimizer.steps == 2 * 7 and len(history["loss"]) == 2


def values_net(optimizer, loss, dtype):
    model = fnn.Sequential(
        [fnn.Dense(10, 16, activation="tanh"), fnn.Dense(16, 3)], dtype=dtype, seed=0
    )
    metrics = ["accuracy"] if loss == "binary_cross_entropy" else []
    return model.compile(OPTIMIZERS[optimizer](), loss, metrics)


@pytest.mark.parametrize("loss", ["mse", "binary_cross_entropy"])
@pytest.mark.parametrize("optimizer", ["momentum", "nesterov", "adam", "adamw-cosine"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("weighted", [False, True])
def test_mse_and_binary_cross_entropy_runs_match_the_step_path(
    rng, monkeypatch, loss, optimizer, dtype, weighted
):
    n = 77  # 9 full batches of 8 and a shorter last one
    x = rng.standard_normal((n, 10)).astype(dtype)
    if loss == "mse":
        y = np.stack([x[:, 0] - x[:, 1], x[:, 2], 0.5 * x[:, 3]], axis=1)
    else:
        y = (rng.random((n, 3)) < 0.4).astype(dtype)
    weights = rng.uniform(0.0, 2.0, n) if weighted else None
    fast, slow, h_fast, h_slow = weighted_fits(
        monkeypatch, lambda: values_net(optimizer, loss, dtype), x, y, weights
    )
    assert h_fast["loss"] == h_slow["loss"]
    if loss == "binary_cross_entropy":
        assert h_fast["accuracy"] == h_slow["accuracy"]
    np.testing.assert_array_equal(fast.get_weights(), slow.get_weights())
    assert fast.optimizer.steps == slow.optimizer.steps
    for name, state in slow.optimizer.state.items():
        np.testing.assert_array_equal(fast.optimizer.state[name], state)


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning")
def test_mse_divergence_inside_a_run_matches_the_step_path(rng, monkeypatch):
    x = (1e3 * rng.standard_normal((64, 10))).astype(np.float32)
    y = rng.standard_normal((64, 3)).astype(np.float32)
    errors = []

    def fit(m):
        m.compile(fnn.SGD(lr=1e30, momentum=0.9), "mse")
        with pytest.raises(fnn.DivergenceError) as info:
            m.fit(x, y, epochs=5, batch_size=8, seed=0, verbose=0)
        errors.append(str(info.value))
        return info.value.history

    fast, slow, _, _ = both_paths(
        monkeypatch, lambda: values_net("sgd", "mse", "float32"), fit
    )
    assert errors[0] == errors[1]
    np.testing.assert_array_equal(fast.get_weights(), slow.get_weights())
    assert fast.optimizer.steps == slow.optimizer.steps
    assert np.isfinite(fast.get_weights()).all()


@pytest.mark.parametrize("optimizer", ["momentum", "adam"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sample_and_class_weights_match_the_step_path(
    rng, monkeypatch, optimizer, dtype
):
    n = 101  # 12 full batches of 8 and a shorter last one
    x = rng.standard_normal((n, 10)).astype(dtype)
    y = rng.integers(0, 4, n)
    weights = rng.uniform(0.0, 3.0, n)
    weights[:16] = 0.0  # unshuffled, the first two batches weigh nothing
    runs, run = [], _compiled_epoch.CompiledSteps.run
    monkeypatch.setattr(
        _compiled_epoch.CompiledSteps,
        "run",
        lambda self, *args: runs.append(args) or run(self, *args),
    )
    for shuffle in (False, True):
        fast, slow, h_fast, h_slow = both_paths(
            monkeypatch,
            lambda: net(optimizer, dtype),
            lambda m: m.fit(
                x, y, epochs=2, batch_size=8, seed=4, verbose=0, shuffle=shuffle,
                sample_weight=weights, class_weight={0: 2.0, 3: 0.5},
            ),
        )  # fmt: skip
        assert_same(fast, slow, h_fast, h_slow)
    assert runs  # the weighted fits did run compiled


@pytest.mark.parametrize("optimizer", ["adam", "adamw-cosine"])
def test_float64_adam_over_many_steps_matches_the_step_path(
    rng, monkeypatch, optimizer
):
    """Bias corrections are computed as the step path computes them (a
    vectorised power differed in the last bit, which float64 keeps)."""
    x = rng.standard_normal((40, 10))
    y = rng.integers(0, 4, 40)
    fast, slow, h_fast, h_slow = both_paths(
        monkeypatch,
        lambda: net(optimizer, "float64"),
        lambda m: m.fit(x, y, epochs=10, batch_size=2, seed=0, verbose=0),
    )
    assert_same(fast, slow, h_fast, h_slow)


def test_compiled_runs_return_to_python_often(rng, monkeypatch):
    """Even without a progress bar, so that Ctrl-C stops training promptly."""
    calls = []
    original = _compiled_epoch.CompiledSteps.run

    def counting(self, start, stop, loss_sum):
        calls.append(stop - start)
        return original(self, start, stop, loss_sum)

    monkeypatch.setattr(_compiled_epoch.CompiledSteps, "run", counting)
    x = rng.standard_normal((399, 10)).astype(np.float32)  # the last batch: 3
    net("sgd").fit(x, rng.integers(0, 4, 399), epochs=1, batch_size=4, verbose=0)
    assert calls[0] == 8 and sum(calls) == 100 and len(calls) > 1
