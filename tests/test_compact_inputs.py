"""Inputs kept as given (uint8 images, float64 tables, Fortran order) and
converted one batch at a time, times the model's ``input_scale``."""

import copy
import io
import pickle
import tracemalloc

import numpy as np
import pytest

import fastnn as fnn


def images(rng, n=64, features=12):
    x = rng.integers(0, 256, (n, features), dtype=np.uint8)
    return x, rng.integers(0, 3, n)


def model(input_scale=None, dtype="float32", dropout=False):
    layers = [fnn.Dense(12, 16, activation="relu")]
    if dropout:
        layers.append(fnn.Dropout(0.2))
    layers.append(fnn.Dense(16, 3))
    net = fnn.Sequential(layers, dtype=dtype, seed=0, input_scale=input_scale)
    return net.compile(fnn.SGD(lr=0.05, momentum=0.9), "cross_entropy", ["accuracy"])


@pytest.mark.parametrize("dropout", [False, True])
def test_uint8_with_input_scale_trains_like_prescaled_float32(rng, dropout):
    """The batch conversion computes float32(x) * float32(scale), exactly
    what this float32 copy holds."""
    x, y = images(rng)
    scaled = x.astype(np.float32) * np.float32(1 / 255)
    raw, pre = model(1 / 255, dropout=dropout), model(dropout=dropout)
    h_raw = raw.fit(x, y, epochs=2, batch_size=10, seed=3, verbose=0)
    h_pre = pre.fit(scaled, y, epochs=2, batch_size=10, seed=3, verbose=0)
    assert h_raw["loss"] == h_pre["loss"]
    np.testing.assert_array_equal(raw.get_weights(), pre.get_weights())
    np.testing.assert_array_equal(raw.predict(x), pre.predict(scaled))
    assert raw.evaluate(x, y) == pre.evaluate(scaled, y)
    assert raw.train_on_batch(x, y, seed=1) == pre.train_on_batch(scaled, y, seed=1)


@pytest.mark.parametrize("layout", ["C", "F"])
def test_float64_and_fortran_inputs_equal_their_float32_conversion(rng, layout):
    x = rng.standard_normal((40, 12))
    y = rng.integers(0, 3, 40)
    given = np.asarray(x, order=layout)
    converted = x.astype(np.float32)
    a, b = model(), model()
    h_a = a.fit(given, y, epochs=2, batch_size=8, seed=0, verbose=0)
    h_b = b.fit(converted, y, epochs=2, batch_size=8, seed=0, verbose=0)
    assert h_a["loss"] == h_b["loss"]
    np.testing.assert_array_equal(a.predict(given), b.predict(converted))


def test_fit_on_uint8_never_holds_a_float32_copy_of_the_data(rng):
    x = rng.integers(0, 256, (20000, 12), dtype=np.uint8)
    y = rng.integers(0, 3, 20000)
    net = model(1 / 255)
    net.fit(x[:100], y[:100], epochs=1, batch_size=50, verbose=0)  # compile first
    tracemalloc.start()
    try:
        net.fit(x, y, epochs=1, batch_size=50, verbose=0)
        net.predict(x)  # the (N, 3) result itself is 240 kB
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    float32_copy = x.size * 4  # 960 kB
    assert peak < float32_copy / 2


def test_bool_inputs_read_as_zero_and_one(rng):
    x = rng.random((20, 12)) > 0.5
    a, b = model(1.0), model()
    np.testing.assert_array_equal(a.predict(x), b.predict(x.astype(np.float32)))


def test_values_that_overflow_the_model_dtype_are_refused(rng):
    x = rng.standard_normal((5, 12))
    x[2, 3] = 1e39  # finite in float64, inf in float32
    with pytest.raises(ValueError, match="overflow the model's float32"):
        model().predict(x)
    with pytest.raises(ValueError, match="times input_scale"):
        model(1e38).predict(np.full((2, 12), 10, np.uint8))
    nan = np.zeros((2, 12))
    nan[0, 0] = np.nan
    with pytest.raises(ValueError, match="x: contains 1 NaN"):
        model(1 / 255).predict(nan)


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf"), "0.5", True])
def test_bad_input_scale_is_refused(bad):
    with pytest.raises((ValueError, TypeError), match="input_scale"):
        fnn.Sequential([fnn.Dense(2, 2)], input_scale=bad)


def test_input_scale_travels_with_files_copies_and_configs(rng):
    x, y = images(rng)
    net = model(1 / 255)
    net.fit(x, y, epochs=1, verbose=0, seed=0)
    buffer = io.BytesIO()
    net.save(buffer)
    copies = [
        fnn.load_model(buffer.getvalue()),
        copy.deepcopy(net),
        pickle.loads(pickle.dumps(net)),
    ]
    rebuilt = fnn.Sequential.from_config(net.get_config())
    rebuilt.set_weights(net.get_weights())
    for other in copies + [rebuilt]:
        assert other.input_scale == net.input_scale
        np.testing.assert_array_equal(other.predict(x), net.predict(x))
    assert "input_scale" not in model().get_config()  # old files stay the same


def test_gradient_check_reads_raw_inputs_through_the_scale(rng):
    x, y = images(rng, n=6)
    check = fnn.gradient_check(model(1 / 255), x, y)
    assert check["max_relative_error"] < 1e-6


def test_mnist_uint8_is_the_raw_pixels_of_the_float32_images(mnist_dir):
    (x8, y8), (t8, _) = fnn.datasets.load_mnist(mnist_dir, dtype="uint8")
    (x32, y32), _ = fnn.datasets.load_mnist(mnist_dir)
    assert x8.dtype == np.uint8 and x8.shape == (60000, 784) and t8.shape[0] == 10000
    np.testing.assert_array_equal(y8, y32)
    np.testing.assert_array_equal(x8[:500] / np.float32(255.0), x32[:500])
    with pytest.raises(ValueError, match="dtype: expected 'float32' or 'uint8'"):
        fnn.datasets.load_mnist(mnist_dir, dtype="float16")


def test_float64_beyond_float32_is_refused_even_when_scaled_down():
    """Each value is narrowed to float32 before it is scaled: 1e39 would be
    inf whatever the scale."""
    x = np.full((1, 12), 1e39)
    with pytest.raises(ValueError, match="overflow the model's float32"):
        model(1e-3).predict(x)
