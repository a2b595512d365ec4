"""predict/evaluate on Dask collections: chunk by chunk on the workers, equal to
the in-memory results, with the model sent once per worker."""

import copy
import logging
import os

import numpy as np
import pytest

import fastnn as fnn

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")
pd = pytest.importorskip("pandas")

N, F, C = 103, 6, 3
#: Row chunks of uneven sizes, and the features split over two column chunks.
CHUNKS = ((40, 13, 50), (4, 2))
COLUMNS = [f"f{i}" for i in range(F)]

#: Pids of the processes in which a CountingSequential was unpickled.
_UNPICKLED = []


class CountingSequential(fnn.Sequential):
    """A Sequential that records each unpickling in this module's list (in
    whichever process unpickles it)."""

    def __setstate__(self, state):
        _UNPICKLED.append(os.getpid())
        super().__setstate__(state)


def _unpickle_count():
    return len(_UNPICKLED)


def _reset_unpickle_count():
    _UNPICKLED.clear()


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    ) as cluster:
        with distributed.Client(cluster) as client:
            yield client


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((N, F)).astype(np.float32)
    y = rng.integers(0, C, N)
    w = rng.random(N)
    return x, y, w


def trained(data, cls=fnn.Sequential, loss="cross_entropy"):
    x, y, _ = data
    outputs = C if loss == "cross_entropy" else 2
    model = cls([fnn.Dense(F, 16, activation="relu"), fnn.Dense(16, outputs)], seed=0)
    model.compile(fnn.Adam(lr=0.01), loss, metrics=["accuracy"])
    targets = y if loss == "cross_entropy" else np.eye(C)[y][:, :2]
    model.fit(x, targets, epochs=2, batch_size=16, seed=0, verbose=0)
    return model


@pytest.fixture(scope="module")
def model(data):
    return trained(data)


def assert_same_evaluation(got, expected):
    assert got.keys() == expected.keys()
    assert got["loss"] == pytest.approx(expected["loss"], rel=1e-6)
    assert got["accuracy"] == expected["accuracy"]


def model_keys(graph, cls=fnn.Sequential):
    """Keys of the graph whose task is a model held as data."""
    return [
        k for k, task in graph.items() if isinstance(getattr(task, "value", None), cls)
    ]


# ----------------------------------------------------- without a cluster
def test_synchronous_scheduler_matches_in_memory_and_holds_one_model_key(model, data):
    x, y, w = data
    with dask.config.set(scheduler="synchronous"):
        lazy = model.predict(da.from_array(x, chunks=CHUNKS), batch_size=7)
        assert isinstance(lazy, da.Array)
        assert lazy.shape == (N, C) and lazy.dtype == model.dtype
        assert lazy.chunks == (CHUNKS[0], (C,))
        np.testing.assert_allclose(lazy.compute(), model.predict(x), rtol=1e-6)

        (optimized,) = dask.optimize(lazy)
        graph = dict(optimized.__dask_graph__())
        (key,) = model_keys(graph)
        blocks = [k for k in graph if isinstance(k, tuple) and k[0] == lazy.name]
        assert len(blocks) == len(CHUNKS[0])
        assert all(key in graph[k].dependencies for k in blocks)

        got = model.evaluate(da.from_array(x, chunks=CHUNKS), y, batch_size=7)
        assert_same_evaluation(got, model.evaluate(x, y, batch_size=7))


def test_lazy_prediction_is_of_the_model_when_predict_was_called(model, data):
    x, y, _ = data
    model = copy.deepcopy(model)
    before = model.predict(x)
    lazy = model.predict(da.from_array(x, chunks=CHUNKS))
    model.fit(x, y, epochs=1, seed=1, verbose=0)
    assert not np.allclose(model.predict(x), before)
    with dask.config.set(scheduler="synchronous"):
        np.testing.assert_allclose(lazy.compute(), before, rtol=1e-6)


def test_unbuilt_model_is_refused(data):
    x, y, _ = data
    model = fnn.Sequential([fnn.Dense(F, C)])
    model.compile("sgd", "cross_entropy")
    chunked = da.from_array(x, chunks=CHUNKS)
    with pytest.raises(RuntimeError, match="needs a built model"):
        model.predict(chunked)
    with pytest.raises(RuntimeError, match="needs a built model"):
        model.evaluate(chunked, y)
    assert not model.built


def test_wrong_inputs_are_refused_before_any_work(model, data):
    x, y, _ = data
    with pytest.raises(ValueError, match="has 5 features per sample"):
        model.predict(da.from_array(x[:, :5], chunks=20))
    with pytest.raises(ValueError, match="expected a 2-D array"):
        model.predict(da.from_array(x[:, 0], chunks=20))
    with pytest.raises(ValueError, match="y: has 100 samples but x has 103"):
        model.evaluate(da.from_array(x, chunks=20), y[:100])
    frame = dd.from_pandas(pd.DataFrame(x, columns=COLUMNS), npartitions=3)
    with pytest.raises(ValueError, match="sizes are unknown"):
        model.evaluate(frame, y)  # where to split y is unknown
    with pytest.raises(RuntimeError, match="not compiled"):
        fnn.Sequential([fnn.Dense(F, C)], seed=0).evaluate(frame, y)


# --------------------------------------------------------- on a cluster
def test_predict_on_workers_with_uneven_chunks(client, model, data):
    x, _, _ = data
    lazy = model.predict(da.from_array(x, chunks=CHUNKS), batch_size=16)
    assert lazy.chunks == (CHUNKS[0], (C,))
    np.testing.assert_allclose(lazy.compute(), model.predict(x), rtol=1e-6)


def test_evaluate_on_workers(client, model, data):
    x, y, _ = data
    got = model.evaluate(da.from_array(x, chunks=CHUNKS), da.from_array(y, chunks=30))
    assert_same_evaluation(got, model.evaluate(x, y))


def test_weighted_evaluate_on_workers(client, model, data):
    x, y, w = data
    w = w.copy()
    w[:40] = 0  # the whole first chunk weighs nothing, yet counts for accuracy
    got = model.evaluate(
        da.from_array(x, chunks=CHUNKS), y, batch_size=8, sample_weight=w
    )
    assert_same_evaluation(got, model.evaluate(x, y, batch_size=8, sample_weight=w))
    with pytest.raises(ValueError, match="all weights are 0"):
        model.evaluate(da.from_array(x, chunks=CHUNKS), y, sample_weight=w * 0)


def test_one_hot_targets_count_every_output(client, data):
    x, y, _ = data
    model = trained(data, loss="binary_cross_entropy")
    targets = np.eye(C)[y][:, :2]
    got = model.evaluate(
        da.from_array(x, chunks=CHUNKS), da.from_array(targets, chunks=(25, 1))
    )
    assert_same_evaluation(got, model.evaluate(x, targets))


def test_dataframe_and_series_inputs(client, model, data):
    x, y, w = data
    frame = pd.DataFrame(x, columns=COLUMNS).assign(label=y, weight=w)
    ddf = dd.from_pandas(frame, npartitions=4)
    features = ddf[COLUMNS]

    lazy = model.predict(features)
    assert isinstance(lazy, da.Array) and lazy.numblocks == (4, 1)
    np.testing.assert_allclose(lazy.compute(), model.predict(x), rtol=1e-6)

    got = model.evaluate(features, ddf["label"], sample_weight=ddf["weight"])
    assert_same_evaluation(got, model.evaluate(x, y, sample_weight=w))

    # filtered partitions: shorter, or empty (no f0 is above 5)
    subset = ddf[ddf["f0"] > 0]
    got = model.evaluate(subset[COLUMNS], subset["label"])
    keep = x[:, 0] > 0
    assert_same_evaluation(got, model.evaluate(x[keep], y[keep]))
    assert not (x[:, 0] > 5).any()
    assert model.predict(ddf[ddf["f0"] > 5][COLUMNS]).compute().shape == (0, C)


def test_the_model_is_sent_once_per_worker(client, data):
    x, y, _ = data
    model = trained(data, cls=CountingSequential)
    chunks = ((10,) * 10 + (3,), F)
    client.run(_reset_unpickle_count)

    lazy = model.predict(da.from_array(x, chunks=chunks))
    np.testing.assert_allclose(lazy.compute(), model.predict(x), rtol=1e-6)
    counts = client.run(_unpickle_count)
    assert len(counts) == 2
    assert all(count <= 1 for count in counts.values())  # 11 chunks, 2 workers
    assert sum(counts.values()) >= 1

    client.run(_reset_unpickle_count)
    got = model.evaluate(da.from_array(x, chunks=chunks), y)
    assert_same_evaluation(got, model.evaluate(x, y))
    counts = client.run(_unpickle_count)
    assert all(count <= 1 for count in counts.values())
    assert sum(counts.values()) >= 1
