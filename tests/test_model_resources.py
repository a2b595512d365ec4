"""Buffer memory stays bounded whatever batch sizes a model sees."""

import tracemalloc

import numpy as np

import fastnn as fnn
from fastnn import _workspace


def wide_model():
    model = fnn.Sequential(
        [fnn.Dense(64, 512, activation="relu"), fnn.Dense(512, 512), fnn.Dense(512, 8)],
        seed=0,
    )
    return model.compile(fnn.SGD(lr=0.01), "cross_entropy")


def traced_growth(fn):
    """Bytes still allocated (NumPy buffers included) after ``fn`` ran."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        fn()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def test_predict_on_many_row_counts_keeps_one_workspace(rng):
    """predict on 1..N rows used to keep a buffer set per row count (+2 GB
    for 1..1024 rows on MNIST's shapes); now one workspace serves them all."""
    model = wide_model()
    x = rng.standard_normal((300, 64)).astype(np.float32)
    model.predict(x)  # the one workspace: 300 rows x (512 + 512 + 8) floats
    one_workspace = 300 * (512 + 512 + 8) * 4

    def predict_every_size():
        for n in range(1, 301):
            model.predict(x[:n])
            model.evaluate(x[:n], np.zeros(n, np.int64))

    grown = traced_growth(predict_every_size)
    assert grown < one_workspace  # unbounded caching kept ~150x this
    assert len(model._infer_pool) <= _workspace.POOL_KEEP


def test_train_on_batch_on_many_sizes_keeps_one_workspace(rng):
    model = wide_model()
    x = rng.standard_normal((200, 64)).astype(np.float32)
    y = rng.integers(0, 8, 200)
    model.train_on_batch(x, y)
    # one set of 200-row buffers: inputs, activations and their gradients
    one_workspace = 200 * (64 + 2 * (512 + 512 + 8)) * 4
    grown = traced_growth(
        lambda: [model.train_on_batch(x[:n], y[:n]) for n in range(1, 201)]
    )
    assert grown < one_workspace  # a buffer set per size kept ~100x this
    assert model._train_ws.capacity == 200  # smaller batches use its views
    assert len(model._train_ws._views) <= _workspace.VIEW_CACHE_SIZE


def test_a_larger_batch_regrows_the_training_workspace_once(rng):
    model = wide_model()
    x = rng.standard_normal((64, 64)).astype(np.float32)
    y = rng.integers(0, 8, 64)
    model.train_on_batch(x[:8], y[:8])
    model.train_on_batch(x, y)
    assert model._train_ws.capacity == 64
    model.train_on_batch(x[:8], y[:8])
    assert model._train_ws.capacity == 64


def test_chunked_predict_equals_one_pass(rng):
    """The last, shorter chunk reads views of the same buffers."""
    model = wide_model()
    x = rng.standard_normal((1000, 64)).astype(np.float32)
    np.testing.assert_allclose(
        model.predict(x, batch_size=97), model.predict(x, batch_size=1000), rtol=1e-5
    )


def test_huge_idle_workspaces_are_not_kept(rng, monkeypatch):
    monkeypatch.setattr(_workspace, "POOL_KEEP_BYTES", 1000)
    model = wide_model()
    model.predict(rng.standard_normal((50, 64)))
    assert len(model._infer_pool) == 0


def test_compile_after_predict_rebuilds_workspaces_for_the_new_loss(rng):
    """A workspace's target buffer follows the loss (labels vs values)."""
    model = wide_model()
    x = rng.standard_normal((10, 64)).astype(np.float32)
    model.evaluate(x, np.zeros(10, np.int64))
    model.compile(fnn.SGD(lr=0.01), "mse")
    result = model.evaluate(x, np.zeros((10, 8)))
    expected = np.mean(model.predict(x).astype(np.float64) ** 2)
    np.testing.assert_allclose(result["loss"], expected, rtol=1e-5)
