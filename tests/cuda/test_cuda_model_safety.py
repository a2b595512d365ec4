"""GPU models: the divergence guard, copies, threads and bounded workspaces
behave as on the CPU."""

import copy
import pickle
import threading

import numpy as np
import pytest

import fastnn as fnn
from fastnn.kernels import cpu as cpu_kernels
from fastnn.kernels import cuda as cuda_kernels

from .conftest import SIMULATOR, host, to_dev


# the simulator runs the arithmetic in Python, which warns on the overflows
@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning")
@pytest.mark.parametrize("kind", ["sgd", "sgd_momentum", "adam"])
def test_guarded_update_keeps_the_elements_it_refuses_like_the_cpu(rng, kind):
    param = rng.standard_normal(37).astype(np.float32)
    param[::5] = 3.3e38  # these overflow under a huge step
    grad = -(1 + rng.random(37)).astype(np.float32)  # steps of 1e38 to 2e38
    state = [np.zeros(37, np.float32) for _ in range(2)]
    results = []
    for ops, move in (
        (cpu_kernels, lambda a: a),
        (cuda_kernels, lambda a: to_dev(a)[0]),
    ):
        p, g = [move(a.copy()) for a in (param, grad)]
        s = [move(a.copy()) for a in state]
        if kind == "adam":
            # Adam's first step moves by lr (its step size lr / 0.1 must
            # itself stay finite in float32)
            refused = ops.adam_update(p, g, s[0], s[1], 1, 3e37, guard=True)
        else:
            momentum = 0.9 if kind == "sgd_momentum" else 0.0
            refused = ops.sgd_update(p, g, s[0], 1, 1e38, momentum, guard=True)
        results.append((refused, p if isinstance(p, np.ndarray) else host(p)))
    (cpu_refused, cpu_param), (gpu_refused, gpu_param) = results
    assert cpu_refused and gpu_refused
    assert np.isfinite(gpu_param).all()
    np.testing.assert_array_equal(gpu_param[::5], param[::5])
    np.testing.assert_allclose(gpu_param, cpu_param, rtol=1e-6)


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning")
def test_unguarded_update_overflows_like_torch(rng):
    p = to_dev(np.full(4, 3e38, np.float32))[0]
    g = to_dev(np.full(4, -1.0, np.float32))[0]
    assert not cuda_kernels.sgd_update(p, g, None, 1, 1e38)
    assert np.isinf(host(p)).all()


def gpu_model():
    model = fnn.Sequential(
        [fnn.Dense(4, 6, activation="tanh"), fnn.Dense(6, 2)], device="cuda", seed=0
    )
    return model.compile(fnn.Adam(lr=0.05), "cross_entropy", metrics=["accuracy"])


def test_gpu_model_copies_train_like_the_original(rng):
    x = rng.standard_normal((24, 4)).astype(np.float32)
    y = rng.integers(0, 2, 24)
    model = gpu_model()
    model.fit(x, y, epochs=1, batch_size=8, seed=0, verbose=0)
    for clone in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        assert clone.device == "cuda"
        h_clone = clone.fit(x, y, epochs=1, batch_size=8, seed=4, verbose=0)
        h_model = copy.deepcopy(model).fit(
            x, y, epochs=1, batch_size=8, seed=4, verbose=0
        )
        assert h_clone["loss"] == h_model["loss"]


@pytest.mark.skipif(
    SIMULATOR,
    reason="the CUDA simulator runs kernels on Python threads of its own, "
    "which launches from several threads at once confuse",
)
def test_gpu_predict_from_threads_matches_single_threaded(rng):
    model = gpu_model()
    inputs = [rng.standard_normal((n, 4)).astype(np.float32) for n in (1, 5, 9)]
    expected = [model.predict(x) for x in inputs]
    errors = []

    def work(k):
        try:
            for i in range(6):
                j = (i + k) % 3
                np.testing.assert_array_equal(model.predict(inputs[j]), expected[j])
        except Exception as exc:  # noqa: BLE001 - any failure fails the test
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_dropout_noise_staging_stays_one_buffer(rng):
    """The host buffer that dropout noise is drawn into is reused for every
    batch size (one buffer per size grew without bound)."""
    model = fnn.Sequential(
        [fnn.Dense(4, 8, activation="relu"), fnn.Dropout(0.5), fnn.Dense(8, 2)],
        device="cuda",
        seed=0,
    ).compile(fnn.SGD(lr=0.1), "cross_entropy")
    x = rng.standard_normal((20, 4)).astype(np.float32)
    y = rng.integers(0, 2, 20)
    for n in range(1, 21):
        model.train_on_batch(x[:n], y[:n], seed=n)
    staging = model._backend._host_noise
    assert staging.nbytes == 20 * 8 * 4  # the largest draw, rounded to 8 bytes


def test_weighted_training_on_the_gpu_matches_the_cpu(rng):
    x = rng.standard_normal((24, 4)).astype(np.float32)
    y = rng.integers(0, 2, 24)
    w = rng.random(24).astype(np.float32)
    runs = []
    for device in ("cuda", "cpu"):
        model = fnn.Sequential(
            [fnn.Dense(4, 6, activation="tanh"), fnn.Dense(6, 2)], device=device, seed=0
        ).compile(fnn.SGD(lr=0.2, momentum=0.9), "cross_entropy")
        history = model.fit(
            x, y, epochs=2, batch_size=8, seed=1, verbose=0, sample_weight=w
        )
        runs.append((history["loss"], model.get_weights()))
    (gpu_loss, gpu_w), (cpu_loss, cpu_w) = runs
    np.testing.assert_allclose(gpu_loss, cpu_loss, rtol=1e-4)
    np.testing.assert_allclose(gpu_w, cpu_w, rtol=1e-4, atol=1e-5)


def test_uint8_inputs_with_input_scale_on_the_gpu_match_the_cpu(rng):
    x = rng.integers(0, 256, (24, 4), dtype=np.uint8)
    y = rng.integers(0, 2, 24)
    runs = []
    for device in ("cuda", "cpu"):
        model = fnn.Sequential(
            [fnn.Dense(4, 6, activation="tanh"), fnn.Dense(6, 2)],
            device=device,
            seed=0,
            input_scale=1 / 255,
        ).compile(fnn.SGD(lr=0.2, momentum=0.9), "cross_entropy")
        history = model.fit(x, y, epochs=2, batch_size=8, seed=1, verbose=0)
        runs.append((history["loss"], model.predict(x), model.evaluate(x, y)["loss"]))
    (gpu_loss, gpu_out, gpu_eval), (cpu_loss, cpu_out, cpu_eval) = runs
    np.testing.assert_allclose(gpu_loss, cpu_loss, rtol=1e-4)
    np.testing.assert_allclose(gpu_out, cpu_out, rtol=1e-4, atol=1e-5)
    assert gpu_eval == pytest.approx(cpu_eval, rel=1e-4)


def test_float64_inputs_are_narrowed_then_scaled_as_on_the_cpu(rng):
    """The gather rounds each value to float32, then scales it in float32,
    on both targets (a float64 product rounded once differed)."""
    from fastnn.kernels import cuda as kcuda
    from fastnn.kernels.cpu.gather import gather_rows

    source = rng.standard_normal((50, 20)) * 1e3
    order = rng.permutation(50)[:30]
    cpu_out = np.empty((30, 20), np.float32)
    gather_rows(source, order, cpu_out, 1 / 255)
    gpu_out = to_dev(np.empty((30, 20), np.float32))[0]
    kcuda.gather.gather_rows(*to_dev(source, order), gpu_out, 1 / 255)
    np.testing.assert_array_equal(host(gpu_out), cpu_out)
    converted = to_dev(np.empty((30, 20), np.float32))[0]
    kcuda.gather.convert_rows(to_dev(source[order])[0], converted, 1 / 255)
    np.testing.assert_array_equal(host(converted), cpu_out)
