"""GPU training and inference through recorded steps (``fastnn/_cuda_graphs``):
bit for bit the per-step path (``FASTNN_CUDA_GRAPHS=off``), divergence
included. On the simulator the recorded launches run eagerly; on a GPU with
CuPy they replay as CUDA graphs, and these tests check both."""

import numpy as np
import pytest

import fastnn as fnn
from fastnn import _cuda_graphs
from fastnn.kernels import _config, _scalar
from fastnn.kernels.cuda import graph_step, graphs

from .conftest import SIMULATOR, cuda

OPTIMIZERS = {
    "nesterov": lambda: fnn.SGD(lr=0.1, momentum=0.9, nesterov=True),
    "sgd-decay": lambda: fnn.SGD(lr=0.1, weight_decay=1e-2),
    "adam": lambda: fnn.Adam(lr=0.01, weight_decay=1e-3),
    "adamw-cosine": lambda: fnn.AdamW(lr=0.01, schedule=fnn.CosineDecay(2)),
}


def net(optimizer, dtype="float32", input_scale=None, dropout=False):
    layers = [fnn.Dense(5, 6, activation="relu"), fnn.Tanh(), fnn.Dense(6, 3)]
    if dropout:
        layers.insert(1, fnn.Dropout(0.5))
    model = fnn.Sequential(
        layers, dtype=dtype, seed=0, input_scale=input_scale, device="cuda"
    )
    return model.compile(OPTIMIZERS[optimizer](), "cross_entropy", ["accuracy"])


def both_paths(monkeypatch, make, fit):
    """(recorded-step model, per-step model, their results)."""
    fast, slow = make(), make()
    r_fast = fit(fast)
    with monkeypatch.context() as patch:
        patch.setattr(_config, "CUDA_GRAPHS", "off")
        r_slow = fit(slow)
    return fast, slow, r_fast, r_slow


def assert_same_state(fast, slow):
    np.testing.assert_array_equal(fast.get_weights(), slow.get_weights())
    assert fast.optimizer.steps == slow.optimizer.steps
    for name, state in slow.optimizer.state.items():
        np.testing.assert_array_equal(
            fast.optimizer.state[name].copy_to_host(), state.copy_to_host()
        )


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_recorded_steps_train_like_the_per_step_path(rng, monkeypatch, optimizer):
    x = rng.standard_normal((21, 5)).astype(np.float32)  # 2 full batches + 5 rows
    y = rng.integers(0, 3, 21)
    fast, slow, h_fast, h_slow = both_paths(
        monkeypatch,
        lambda: net(optimizer),
        lambda m: m.fit(x, y, epochs=2, batch_size=8, seed=3, verbose=0),
    )
    assert h_fast["loss"] == h_slow["loss"]
    assert h_fast["accuracy"] == h_slow["accuracy"]
    assert_same_state(fast, slow)
    assert "fit" in fast._graph_report and "fit" not in slow._graph_report
    if SIMULATOR:
        assert fast._graph_report["fit"] == "the CUDA simulator has no graphs"


def test_uint8_float64_unshuffled_inputs_match_too(rng, monkeypatch):
    x = rng.integers(0, 256, (16, 5), dtype=np.uint8)
    y = rng.integers(0, 3, 16)
    fast, slow, h_fast, h_slow = both_paths(
        monkeypatch,
        lambda: net("nesterov", "float64", input_scale=1 / 255),
        lambda m: m.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0),
    )
    assert h_fast["loss"] == h_slow["loss"]
    assert_same_state(fast, slow)


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning")
@pytest.mark.parametrize(
    "scale, lr, cause",
    [(1e3, 3e38, "the loss became"), (10.0, 2e38, "the update at epoch 1, step 1")],
)
def test_divergence_is_reported_at_the_same_step_with_the_same_weights(
    rng, monkeypatch, scale, lr, cause
):
    x = (scale * rng.standard_normal((16, 5))).astype(np.float32)
    y = rng.integers(0, 3, 16)
    errors = []

    def fit(model):
        model.compile(fnn.SGD(lr=lr, momentum=0.9), "cross_entropy", ["accuracy"])
        with pytest.raises(fnn.DivergenceError) as info:
            model.fit(x, y, epochs=3, batch_size=4, seed=0, verbose=0)
        errors.append(str(info.value))

    fast, slow, _, _ = both_paths(monkeypatch, lambda: net("nesterov"), fit)
    assert errors[0] == errors[1] and cause in errors[0]
    assert_same_state(fast, slow)
    assert np.isfinite(fast.get_weights()).all()


def test_predict_through_a_recorded_forward_matches_the_per_step_path(rng, monkeypatch):
    x = rng.standard_normal((7, 5))
    fast, slow, out_fast, out_slow = both_paths(
        monkeypatch,
        lambda: net("adam"),
        lambda m: (m.predict(x, batch_size=4), m.predict(x[:1])),
    )
    for a, b in zip(out_fast, out_slow):
        np.testing.assert_array_equal(a, b)
    assert "predict" in fast._graph_report


def test_a_recorded_forward_follows_new_weights(rng):
    model = net("adam")
    x = rng.standard_normal((3, 5)).astype(np.float32)
    before = model.predict(x)
    model.set_weights(model.get_weights() * 2)
    after = model.predict(x)
    model.build(5)  # new parameter buffers: the forward is recorded again
    rebuilt = model.predict(x)
    reference = net("adam")
    reference.build(5)
    assert not np.array_equal(before, after)
    np.testing.assert_array_equal(rebuilt, reference.predict(x))


def test_a_new_optimizer_records_a_new_step(rng, monkeypatch):
    x = rng.standard_normal((16, 5)).astype(np.float32)
    y = rng.integers(0, 3, 16)

    def fit(model):
        model.fit(x, y, epochs=1, batch_size=8, seed=0, verbose=0)
        first = model._graph_program
        model.compile(fnn.Adam(lr=0.01), "cross_entropy")
        model.fit(x, y, epochs=1, batch_size=8, seed=1, verbose=0)
        return first, model._graph_program

    fast, slow, (first, second), _ = both_paths(
        monkeypatch, lambda: net("nesterov"), fit
    )
    assert first is not None and second is not first
    assert_same_state(fast, slow)


def test_dropout_models_and_weighted_fits_take_the_per_step_path(rng):
    dropout = net("adam", dropout=True)
    assert not _cuda_graphs.plan(dropout, None)
    plain = net("adam")
    assert _cuda_graphs.plan(plain, None)
    assert not _cuda_graphs.plan(plain, np.ones(3))
    mse = net("adam").compile(fnn.SGD(lr=0.1), "mse")
    assert not _cuda_graphs.plan(mse, None)
    x = rng.standard_normal((8, 5)).astype(np.float32)
    dropout.fit(x, rng.integers(0, 3, 8), epochs=1, batch_size=4, verbose=0)
    assert "fit" not in dropout._graph_report


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_optimizer_tables_hold_the_per_step_scalars(dtype):
    sgd = fnn.SGD(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=1e-3)
    table = _cuda_graphs.sgd_table(sgd, dtype, 0.05, 1, 3)
    expected = _scalar.sgd_scalars(dtype, 0.05, 0.9, 0.1, 1e-3)
    for row, first in zip(table, (1, 0, 0)):
        np.testing.assert_array_equal(row[:5], np.array(expected, dtype))
        assert row[5] == first
    adam = fnn.Adam(lr=0.01, beta1=0.8, weight_decay=1e-2)
    table = _cuda_graphs.adam_table(adam, dtype, 0.002, 4, 3)
    for row, step in zip(table, (4, 5, 6)):
        scalars = _scalar.adam_scalars(dtype, step, 0.002, 0.8, 0.999, 1e-8, 1e-2)
        np.testing.assert_array_equal(row, np.array(scalars[:1] + scalars[2:], dtype))


def test_step_kernels_gather_by_the_device_step_and_stop_when_told(rng):
    source = rng.integers(0, 256, (10, 3), dtype=np.uint8)
    order = np.array([3, 1, 4, 0, 9, 2, 6, 5, 8, 7])
    out = cuda.device_array((4, 3), np.float32)
    state = cuda.to_device(np.array([1, 0, 0], np.int64))  # step 1
    graph_step.gather_step(
        cuda.to_device(source), cuda.to_device(order), state, 4, out, np.float32(0.5)
    )
    expected = source[order[4:8]].astype(np.float64) * 0.5
    np.testing.assert_array_equal(out.copy_to_host(), expected.astype(np.float32))

    acc = cuda.to_device(np.array([np.inf, 0.0]))
    losses = cuda.to_device(np.zeros(3))
    graph_step.finish_loss(acc, 4, losses, state)
    assert list(state.copy_to_host()) == [1, graph_step.LOSS_NOT_FINITE, 0]
    assert losses.copy_to_host()[1] == np.inf
    # a stopped run changes nothing more: no update, no advance
    param = cuda.to_device(np.ones(4, np.float32))
    table = cuda.to_device(np.ones((3, 6), np.float32))
    graph_step.sgd_step(
        param, param, param, False, False, table, state
    )  # would move param
    graph_step.commit(state)
    np.testing.assert_array_equal(param.copy_to_host(), np.ones(4, np.float32))
    assert list(state.copy_to_host()) == [1, graph_step.LOSS_NOT_FINITE, 0]


def test_launch_sequences_say_why_they_run_eagerly(monkeypatch):
    monkeypatch.setattr(_config, "CUDA_GRAPHS", "off")
    assert graphs.capture_unavailable_reason() == "FASTNN_CUDA_GRAPHS=off"
    calls = []
    seq = graphs.LaunchSequence(lambda: calls.append(1), graphs.LaunchStream())
    seq.launch()
    assert not seq.captured and seq.reason == "FASTNN_CUDA_GRAPHS=off"
    assert calls == [1, 1]  # the warm-up call, then the launch
