"""One model shared between threads: inference is safe, training is refused."""

import contextlib
import threading

import numpy as np
import pytest

import fastnn as fnn

THREADS = 8


def shared_model(dropout=False):
    layers = [fnn.Dense(48, 96, activation="relu")]
    if dropout:
        layers.append(fnn.Dropout(0.2))
    layers += [fnn.Dense(96, 96, activation="tanh"), fnn.Dense(96, 10)]
    model = fnn.Sequential(layers, seed=0)
    return model.compile(fnn.SGD(lr=0.05), "cross_entropy", metrics=["accuracy"])


@contextlib.contextmanager
def paused_fit(model, x, y, at_pause=None):
    """A fit running in another thread, held inside its first epoch-end
    callback (where ``at_pause(model)`` runs first) for the with-block."""
    inside, release = threading.Event(), threading.Event()

    class Pause(fnn.Callback):
        def on_epoch_end(self, model, epoch, logs):
            if at_pause is not None:
                at_pause(model)
            inside.set()
            release.wait(10)

    trainer = threading.Thread(
        target=model.fit,
        args=(x, y),
        kwargs=dict(epochs=1, verbose=0, callbacks=[Pause()]),
    )
    trainer.start()
    try:
        assert inside.wait(10)
        yield
    finally:
        release.set()
        trainer.join()


def run_in_threads(work, n_threads=THREADS):
    """Run ``work(thread_index)`` in threads released together; re-raise the
    first exception any of them hit."""
    start = threading.Barrier(n_threads)
    errors = []

    def body(k):
        try:
            start.wait()
            work(k)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(k,)) for k in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


@pytest.mark.parametrize("dropout", [False, True])
def test_concurrent_predict_and_evaluate_match_single_threaded(rng, dropout):
    """8 threads x mixed batch sizes on one model: every result equals the
    single-threaded one (shared per-batch-size buffers used to mix them)."""
    model = shared_model(dropout)
    sizes = [1, 1, 3, 17, 64, 64, 200, 1500]
    inputs = [rng.standard_normal((n, 48)).astype(np.float32) for n in sizes]
    labels = [rng.integers(0, 10, n) for n in sizes]
    expected_pred = [model.predict(x, batch_size=128) for x in inputs]
    expected_eval = [
        model.evaluate(x, y, batch_size=128) for x, y in zip(inputs, labels)
    ]
    mismatches = []

    def work(k):
        order = np.random.default_rng(k).permutation(len(sizes) * 6) % len(sizes)
        for i in order:
            if (i + k) % 2:
                got = model.predict(inputs[i], batch_size=128)
                if not np.array_equal(got, expected_pred[i]):
                    mismatches.append(("predict", sizes[i]))
            else:
                got = model.evaluate(inputs[i], labels[i], batch_size=128)
                if got != expected_eval[i]:
                    mismatches.append(("evaluate", sizes[i]))

    run_in_threads(work)
    assert mismatches == []


def test_concurrent_first_predicts_build_the_model_once(rng):
    """An unbuilt model built lazily by several threads at once gets one set
    of weights, which every thread's result uses."""
    model = fnn.Sequential([fnn.Dense(8, 16, activation="relu"), fnn.Dense(16, 3)])
    x = rng.standard_normal((5, 8))
    results = [None] * THREADS

    def work(k):
        results[k] = model.predict(x)

    run_in_threads(work)
    expected = model.predict(x)
    for got in results:
        np.testing.assert_array_equal(got, expected)


def test_concurrent_training_on_one_model_is_refused(rng):
    """fit holding the model: a second fit or train_on_batch from another
    thread raises a clear RuntimeError instead of corrupting the gradients."""
    model = shared_model()
    x = rng.standard_normal((64, 48)).astype(np.float32)
    y = rng.integers(0, 10, 64)
    with paused_fit(model, x, y):
        with pytest.raises(RuntimeError, match="already training"):
            model.train_on_batch(x, y)
        with pytest.raises(RuntimeError, match="already training"):
            model.fit(x, y, epochs=1, verbose=0)
        # inference stays available while another thread trains
        assert model.predict(x).shape == (64, 10)
    model.train_on_batch(x, y)  # free again once fit returned


def test_training_lock_is_released_after_an_error(rng):
    model = shared_model()
    x = rng.standard_normal((16, 48)).astype(np.float32)
    y = rng.integers(0, 10, 16)

    class Boom(fnn.Callback):
        def on_epoch_end(self, model, epoch, logs):
            raise KeyError("boom")

    with pytest.raises(KeyError):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[Boom()])
    model.fit(x, y, epochs=1, verbose=0)


def test_copies_train_in_parallel_threads_like_alone(rng):
    """Independent copies (deepcopy) train concurrently to exactly the
    weights each reaches alone."""
    import copy

    base = shared_model()
    x = rng.standard_normal((96, 48)).astype(np.float32)
    y = rng.integers(0, 10, 96)
    alone = copy.deepcopy(base)
    alone.fit(x, y, epochs=2, batch_size=16, seed=3, verbose=0)
    copies = [copy.deepcopy(base) for _ in range(4)]

    def work(k):
        copies[k].fit(x, y, epochs=2, batch_size=16, seed=3, verbose=0)

    run_in_threads(work, n_threads=4)
    for c in copies:
        np.testing.assert_array_equal(c.get_weights(), alone.get_weights())


def test_first_predicts_never_see_a_half_built_model(rng, monkeypatch):
    """The lazy build publishes ``params`` last: a thread that finds it set
    must also find the layers bound (a slow build widens the window)."""
    import time

    from fastnn import model as model_module

    original = model_module.Sequential._dense_stack_params

    def slow(self):
        time.sleep(0.05)
        return original(self)

    monkeypatch.setattr(model_module.Sequential, "_dense_stack_params", slow)
    model = fnn.Sequential([fnn.Dense(8, 16, activation="relu"), fnn.Dense(16, 3)])
    x = rng.standard_normal((5, 8))
    results = [None] * 4
    run_in_threads(lambda k: results.__setitem__(k, model.predict(x)), n_threads=4)
    for got in results:
        np.testing.assert_array_equal(got, model.predict(x))


def test_changing_a_model_while_another_thread_trains_it_is_refused(rng):
    import copy

    model = shared_model()
    x = rng.standard_normal((64, 48)).astype(np.float32)
    y = rng.integers(0, 10, 64)
    in_callback = []

    def at_pause(model):
        # the training thread itself may still change and copy the model
        model.set_weights(model.get_weights())
        in_callback.append(copy.deepcopy(model))
        with pytest.raises(RuntimeError, match="callback of its own fit"):
            model.fit(x, y, epochs=1, verbose=0)

    with paused_fit(model, x, y, at_pause):
        for change in (
            lambda: model.compile(fnn.SGD(lr=0.1), "cross_entropy"),
            lambda: model.set_weights(model.get_weights()),
            lambda: copy.deepcopy(model),
            lambda: model.build(0),
        ):
            with pytest.raises(RuntimeError, match="training in another thread"):
                change()
    assert len(in_callback) == 1
    copy.deepcopy(model)  # fine once training returned
