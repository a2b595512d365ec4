"""fit/evaluate/train_on_batch with sample and class weights: each batch
minimises the weighted mean loss sum(w_i l_i) / sum(w_i) (scikit-learn's
convention), so integer weights act as repeated samples."""

import numpy as np
import pytest

import fastnn as fnn


def data(rng, n=30, features=5, classes=3):
    x = rng.standard_normal((n, features))
    return x, rng.integers(0, classes, n)


def model(loss="cross_entropy", outputs=3, dropout=False, seed=0):
    layers = [fnn.Dense(5, 8, activation="tanh")]
    if dropout:
        layers.append(fnn.Dropout(0.3))
    layers.append(fnn.Dense(8, outputs))
    net = fnn.Sequential(layers, dtype="float64", seed=seed)
    return net.compile(fnn.SGD(lr=0.1, momentum=0.9), loss, metrics=[])


def full_batch(net, x, y, **kwargs):
    return net.fit(
        x, y, epochs=3, batch_size=len(x), shuffle=False, seed=0, verbose=0, **kwargs
    )


@pytest.mark.parametrize("loss", ["cross_entropy", "mse", "binary_cross_entropy"])
def test_integer_weights_train_like_repeated_samples(rng, loss):
    x, labels = data(rng)
    y = labels if loss == "cross_entropy" else rng.random((30, 3))
    w = rng.integers(0, 4, 30)
    w[0] = 2
    weighted, repeated = model(loss), model(loss)
    h_w = full_batch(weighted, x, y, sample_weight=w)
    h_r = full_batch(repeated, np.repeat(x, w, axis=0), np.repeat(y, w, axis=0))
    np.testing.assert_allclose(h_w["loss"], h_r["loss"], rtol=1e-12)
    np.testing.assert_allclose(
        weighted.get_weights(), repeated.get_weights(), rtol=1e-10, atol=1e-12
    )


def test_zero_weights_are_the_same_as_leaving_samples_out(rng):
    x, y = data(rng)
    w = np.ones(30)
    w[::3] = 0
    weighted, dropped = model(), model()
    full_batch(weighted, x, y, sample_weight=w)
    full_batch(dropped, x[w > 0], y[w > 0])
    np.testing.assert_allclose(
        weighted.get_weights(), dropped.get_weights(), rtol=1e-10
    )


@pytest.mark.parametrize("dropout", [False, True])
def test_unit_weights_are_bit_for_bit_unweighted_training(rng, dropout):
    x, y = data(rng)
    plain, ones = model(dropout=dropout), model(dropout=dropout)
    h_plain = plain.fit(x, y, epochs=2, batch_size=7, seed=1, verbose=0)
    h_ones = ones.fit(
        x, y, epochs=2, batch_size=7, seed=1, verbose=0, sample_weight=np.ones(30)
    )
    assert h_plain["loss"] == h_ones["loss"]
    np.testing.assert_array_equal(plain.get_weights(), ones.get_weights())


def test_class_weight_is_sample_weight_by_label(rng):
    x, y = data(rng)
    by_class, by_sample = model(), model()
    h1 = by_class.fit(
        x, y, epochs=2, batch_size=8, seed=0, verbose=0, class_weight={0: 3.0, 2: 0.5}
    )
    h2 = by_sample.fit(
        x,
        y,
        epochs=2,
        batch_size=8,
        seed=0,
        verbose=0,
        sample_weight=np.array([3.0, 1.0, 0.5])[y],
    )
    assert h1["loss"] == h2["loss"]
    np.testing.assert_array_equal(by_class.get_weights(), by_sample.get_weights())


def test_balanced_class_weight_follows_scikit_learn(rng):
    """'balanced': n_samples / (n_classes * bincount(y)), as in
    sklearn.utils.class_weight.compute_class_weight."""
    x, _ = data(rng)
    y = np.array([0] * 20 + [1] * 6 + [2] * 4)
    expected = np.array([30 / (3 * 20), 30 / (3 * 6), 30 / (3 * 4)])[y]
    balanced, explicit = model(), model()
    balanced.fit(
        x, y, epochs=1, batch_size=9, seed=0, verbose=0, class_weight="balanced"
    )
    explicit.fit(
        x, y, epochs=1, batch_size=9, seed=0, verbose=0, sample_weight=expected
    )
    np.testing.assert_array_equal(balanced.get_weights(), explicit.get_weights())


def test_weighted_evaluate_is_the_weighted_mean_of_sample_losses(rng):
    x, y = data(rng, n=50)
    net = model()
    w = rng.random(50) * 3
    logits = net.predict(x)
    shifted = logits - logits.max(axis=1, keepdims=True)
    per_sample = np.log(np.exp(shifted).sum(axis=1)) - shifted[np.arange(50), y]
    expected = np.sum(w * per_sample) / np.sum(w)
    got = net.evaluate(x, y, batch_size=16, sample_weight=w)["loss"]
    assert got == pytest.approx(expected, rel=1e-12)
    assert net.evaluate(x, y)["loss"] == pytest.approx(per_sample.mean(), rel=1e-12)


def test_the_logged_loss_is_the_weighted_mean(rng):
    x, y = data(rng)
    w = rng.random(30) + 0.1
    net = model()
    net.compile(fnn.SGD(lr=0.0), "cross_entropy")  # lr 0: weights stay put
    logged = net.fit(x, y, epochs=1, batch_size=7, seed=0, verbose=0, sample_weight=w)
    expected = net.evaluate(x, y, sample_weight=w)["loss"]
    assert logged["loss"][0] == pytest.approx(expected, rel=1e-12)


def test_train_on_batch_with_weights_equals_a_full_batch_fit(rng):
    x, y = data(rng)
    w = rng.random(30)
    stepped, fitted = model(), model()
    stepped.train_on_batch(x, y, sample_weight=w)
    fitted.fit(
        x, y, epochs=1, batch_size=30, shuffle=False, seed=0, verbose=0, sample_weight=w
    )
    np.testing.assert_array_equal(stepped.get_weights(), fitted.get_weights())


def test_validation_split_keeps_the_training_weights_aligned(rng):
    x, y = data(rng, n=40)
    w = rng.random(40) + 0.5
    split, manual = model(), model()
    split.fit(
        x,
        y,
        epochs=1,
        batch_size=8,
        seed=0,
        verbose=0,
        sample_weight=w,
        validation_split=0.25,
    )
    manual.fit(
        x[:30], y[:30], epochs=1, batch_size=8, seed=0, verbose=0, sample_weight=w[:30]
    )
    np.testing.assert_array_equal(split.get_weights(), manual.get_weights())


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(sample_weight=-np.ones(30)), "sample_weight: weights must be >= 0"),
        (dict(sample_weight=np.full(30, np.nan)), "sample_weight: contains NaN"),
        (dict(sample_weight=np.ones(29)), "sample_weight: has 29 samples"),
        (dict(sample_weight=np.ones((30, 1))), r"sample_weight: expected shape"),
        (dict(sample_weight=np.zeros(30)), "all weights are 0"),
        (dict(sample_weight=["a"] * 30), "sample_weight: expected real numbers"),
        (dict(class_weight={5: 1.0}), "class_weight: key 5 is not a class"),
        (dict(class_weight={0: "x"}), r"class_weight\[0\]: expected a number"),
        (dict(class_weight="even"), "class_weight: expected a dict or 'balanced'"),
        (dict(class_weight=[1, 2, 3]), "class_weight: expected a dict"),
    ],
)
def test_bad_weights_are_clear_errors(rng, kwargs, message):
    x, y = data(rng)
    with pytest.raises(ValueError, match=message):
        model().fit(x, y, verbose=0, **kwargs)


def test_class_weight_needs_class_labels(rng):
    x, _ = data(rng)
    with pytest.raises(ValueError, match="class_weight: needs integer class labels"):
        model("mse").fit(x, rng.random((30, 3)), verbose=0, class_weight={0: 2.0})


def test_balanced_class_weight_counts_the_training_rows_only(rng):
    """With validation_split, 'balanced' weighs the classes of the rows that
    train (scikit-learn computes it on the data fit sees)."""
    x, _ = data(rng, n=40)
    y = np.array([0] * 6 + [1] * 2 + [2] * 22 + [0] * 10)  # last 10: validation
    split, manual = model(), model()
    split.fit(
        x,
        y,
        epochs=1,
        batch_size=8,
        seed=0,
        verbose=0,
        class_weight="balanced",
        validation_split=0.25,
    )
    manual.fit(
        x[:30],
        y[:30],
        epochs=1,
        batch_size=8,
        seed=0,
        verbose=0,
        class_weight="balanced",
    )
    np.testing.assert_array_equal(split.get_weights(), manual.get_weights())


def test_weights_that_vanish_in_the_training_rows_are_refused(rng):
    x, y = data(rng, n=40)
    w = np.r_[np.zeros(30), np.ones(10)]  # only the held-out rows weigh
    with pytest.raises(ValueError, match="all weights are 0"):
        model().fit(x, y, verbose=0, sample_weight=w, validation_split=0.25)


def test_weights_are_checked_in_the_model_dtype(rng):
    x, y = data(rng)
    net = fnn.Sequential([fnn.Dense(5, 3)], seed=0).compile(fnn.SGD(lr=0.1))
    with pytest.raises(ValueError, match="too small for float32"):
        net.evaluate(x.astype(np.float32), y, sample_weight=np.full(30, 1e-50))
    with pytest.raises(ValueError, match="beyond the range of float32"):
        net.fit(x, y, verbose=0, sample_weight=np.full(30, 1e39))


def test_a_batch_of_zero_weights_with_the_progress_bar_shown(rng, monkeypatch):
    import io
    import sys

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr(sys, "stderr", Terminal())
    x, y = data(rng, n=120)
    w = np.r_[np.zeros(110), np.ones(10)]
    history = model().fit(
        x, y, epochs=1, batch_size=2, shuffle=False, verbose=1, sample_weight=w
    )
    assert np.isfinite(history["loss"]).all()
