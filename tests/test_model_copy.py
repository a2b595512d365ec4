"""Copies of a model (copy, deepcopy, pickle, from_config) are independent
models that train exactly like the original; layers belong to one model."""

import copy
import gc
import pickle

import numpy as np
import pytest

import fastnn as fnn


def data(rng, n=96, features=6, classes=3):
    x = rng.standard_normal((n, features)).astype(np.float32)
    return x, rng.integers(0, classes, n)


def model_with(optimizer, dropout=False):
    layers = [fnn.Dense(6, 16, activation="relu")]
    if dropout:
        layers.append(fnn.Dropout(0.25))
    layers += [fnn.Dense(16, 16), fnn.Tanh(), fnn.Dense(16, 3)]
    model = fnn.Sequential(layers, seed=1)
    return model.compile(optimizer, "cross_entropy", metrics=["accuracy"])


def forward_from_parameters(model, x):
    """The network's output computed with NumPy from ``model.parameters()``:
    what the saved weights say the model predicts."""
    params = model.parameters()
    h = x.astype(np.float64)
    for i, layer in enumerate(model.layers):
        if isinstance(layer, fnn.Dense):
            h = h @ params[f"layers.{i}.W"] + params[f"layers.{i}.b"]
            if layer.activation == "relu":
                h = np.maximum(h, 0)
        elif isinstance(layer, fnn.Tanh):
            h = np.tanh(h)
    return h


COPIERS = {
    "deepcopy": copy.deepcopy,
    "copy": copy.copy,
    "pickle": lambda m: pickle.loads(pickle.dumps(m)),
}
OPTIMIZERS = {
    "sgd-momentum": lambda: fnn.SGD(lr=0.05, momentum=0.9, nesterov=True),
    "adam": lambda: fnn.Adam(lr=0.01),
    "adamw-cosine": lambda: fnn.AdamW(lr=0.01, schedule=fnn.CosineDecay(4)),
}


@pytest.mark.parametrize("dropout", [False, True])
@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
@pytest.mark.parametrize("how", sorted(COPIERS))
def test_copy_of_a_trained_model_trains_bit_for_bit_like_the_original(
    rng, how, optimizer, dropout
):
    x, y = data(rng)
    model = model_with(OPTIMIZERS[optimizer](), dropout)
    model.fit(x, y, epochs=2, batch_size=16, seed=0, verbose=0)  # state to copy
    clone = COPIERS[how](model)
    assert clone is not model and clone.epochs_trained == 2
    np.testing.assert_array_equal(clone.predict(x), model.predict(x))
    h_model = model.fit(x, y, epochs=2, batch_size=16, seed=5, verbose=0)
    h_clone = clone.fit(x, y, epochs=2, batch_size=16, seed=5, verbose=0)
    assert h_clone["loss"] == h_model["loss"]
    assert h_clone["loss"][-1] < h_clone["loss"][0]  # it really trains
    np.testing.assert_array_equal(clone.get_weights(), model.get_weights())
    for name, buf in model.optimizer.state.items():
        np.testing.assert_array_equal(clone.optimizer.state[name], buf)
    assert clone.optimizer.steps == model.optimizer.steps


@pytest.mark.parametrize("how", sorted(COPIERS))
def test_copy_weights_saves_and_predictions_agree_after_training(rng, tmp_path, how):
    """The failure this guards: a copy whose layers stopped being views of its
    flat buffer predicted with stale weights while get_weights/save moved."""
    x, y = data(rng)
    clone = COPIERS[how](model_with(fnn.SGD(lr=0.1, momentum=0.9)))
    before = clone.get_weights()
    clone.fit(x, y, epochs=3, batch_size=8, seed=0, verbose=0)
    assert not np.array_equal(clone.get_weights(), before)
    np.testing.assert_allclose(
        clone.predict(x), forward_from_parameters(clone, x), rtol=1e-4, atol=1e-5
    )
    clone.save(tmp_path / "clone.safetensors")
    loaded = fnn.load_model(tmp_path / "clone.safetensors")
    np.testing.assert_array_equal(loaded.predict(x), clone.predict(x))


def test_copies_are_independent_of_the_original(rng):
    x, y = data(rng)
    model = model_with(fnn.SGD(lr=0.1))
    weights = model.get_weights()
    clone = copy.deepcopy(model)
    clone.fit(x, y, epochs=2, verbose=0, seed=0)
    np.testing.assert_array_equal(model.get_weights(), weights)
    model.set_weights(np.zeros_like(weights))
    assert np.any(clone.get_weights() != 0)


def test_unbuilt_and_uncompiled_models_copy_and_pickle(rng):
    x, _ = data(rng)
    lazy = fnn.Sequential([fnn.Dense(6, 4), fnn.ReLU(), fnn.Dense(4, 2)])
    clone = pickle.loads(pickle.dumps(lazy))
    assert not clone.built and clone.optimizer is None
    assert clone.predict(x).shape == (96, 2)
    built = fnn.Sequential([fnn.Dense(6, 2)], dtype="float64", seed=0)
    np.testing.assert_array_equal(copy.deepcopy(built).predict(x), built.predict(x))
    assert copy.deepcopy(built).dtype == np.float64


def test_from_config_rebuilds_the_architecture_untrained(rng):
    x, y = data(rng)
    model = model_with(fnn.SGD(lr=0.1), dropout=True)
    model.fit(x, y, epochs=1, verbose=0, seed=0)
    fresh = fnn.Sequential.from_config(model.get_config())
    assert fresh.get_config() == model.get_config()
    assert not fresh.built and fresh.epochs_trained == 0
    assert all(a is not b for a, b in zip(fresh.layers, model.layers))
    fresh.set_weights(model.get_weights())
    np.testing.assert_array_equal(fresh.predict(x), model.predict(x))
    with pytest.raises(ValueError, match="config"):
        fnn.Sequential.from_config({"dtype": "float32"})


def test_a_layer_with_weights_cannot_appear_twice_in_one_model():
    dense = fnn.Dense(4, 4)
    with pytest.raises(ValueError, match=r"layers\[2\].*already layers\[0\]"):
        fnn.Sequential([dense, fnn.ReLU(), dense])
    dropout = fnn.Dropout(0.5)
    with pytest.raises(ValueError, match="already layers"):
        fnn.Sequential([fnn.Dense(4, 4), dropout, fnn.Dense(4, 4), dropout])


def test_a_layer_with_weights_cannot_join_a_second_model():
    dense = fnn.Dense(4, 2)
    first = fnn.Sequential([dense], seed=0)
    with pytest.raises(ValueError, match="another Sequential"):
        fnn.Sequential([dense])
    # an unbound copy of the layer is fine, and independent
    second = fnn.Sequential([copy.deepcopy(dense)], seed=1)
    assert not np.array_equal(second.get_weights(), first.get_weights())
    # once the first model is gone, its layers may be reused
    del first
    gc.collect()
    third = fnn.Sequential([dense], seed=2)
    assert third.layers[0] is dense


def test_stateless_activation_layers_may_be_shared(rng):
    relu = fnn.ReLU()
    model = fnn.Sequential(
        [fnn.Dense(3, 5), relu, fnn.Dense(5, 5), relu, fnn.Dense(5, 2)],
        dtype="float64",
        seed=0,
    )
    other = fnn.Sequential([fnn.Dense(3, 2), relu], seed=0)  # noqa: F841
    x = rng.standard_normal((4, 3))
    p = model.parameters()
    h = np.maximum(x @ p["layers.0.W"] + p["layers.0.b"], 0)
    h = np.maximum(h @ p["layers.2.W"] + p["layers.2.b"], 0)
    np.testing.assert_allclose(
        model.predict(x), h @ p["layers.4.W"] + p["layers.4.b"], rtol=1e-12
    )


def test_an_optimizer_serves_one_model():
    """Its state buffers are sized for one model: a second model's step ran
    past them (memory corruption, a crash) before this was refused."""
    optimizer = fnn.Adam(lr=0.01)
    first = fnn.Sequential([fnn.Dense(4, 3)], seed=0).compile(optimizer)
    with pytest.raises(ValueError, match="optimizer: this Adam already belongs"):
        fnn.Sequential([fnn.Dense(40, 12)], seed=0).compile(optimizer)
    first.compile(optimizer)  # recompiling its own model is fine
    other = fnn.Sequential([fnn.Dense(40, 12)], seed=0)
    other.compile(copy.deepcopy(optimizer))  # a copy is unowned
    first.compile(fnn.SGD(lr=0.1))  # released: now free for another model
    other.compile(optimizer)
    assert other.optimizer is optimizer


def test_a_failed_compile_leaves_the_model_as_it_was(rng):
    x, y = data(rng)
    model = model_with(fnn.Adam(lr=0.01))
    before = (model.optimizer, model.loss, model.metrics)
    with pytest.raises(ValueError, match="accuracy"):
        model.compile(fnn.SGD(lr=0.1), "mse", metrics=["accuracy"])
    with pytest.raises(ValueError, match="metrics"):
        model.compile(fnn.SGD(lr=0.1), "cross_entropy", metrics="accuracy")
    assert (model.optimizer, model.loss, model.metrics) == before
    model.fit(x, y, epochs=1, verbose=0, seed=0)


def test_a_failed_init_claims_no_layers():
    dense = fnn.Dense(4, 3)
    with pytest.raises(TypeError):
        fnn.Sequential([dense], seed="not a seed")  # fails in build
    kept = fnn.Sequential([dense], seed=0)
    assert kept.layers[0] is dense


class Classifier(fnn.Sequential):
    """A subclass with its own constructor and an attribute of its own."""

    def __init__(self, hidden):
        super().__init__(
            [fnn.Dense(6, hidden, activation="relu"), fnn.Dense(hidden, 3)]
        )
        self.hidden = hidden
        self.notes = {"trained_on": "blobs"}


@pytest.mark.parametrize("how", sorted(COPIERS))
def test_subclasses_copy_with_their_own_attributes(rng, how):
    x, y = data(rng)
    model = Classifier(16).compile(fnn.SGD(lr=0.1), "cross_entropy")
    model.fit(x, y, epochs=1, verbose=0, seed=0)
    clone = COPIERS[how](model)
    assert type(clone) is Classifier
    assert clone.hidden == 16 and clone.notes == {"trained_on": "blobs"}
    assert clone.notes is not model.notes  # copies never share state
    np.testing.assert_array_equal(clone.predict(x), model.predict(x))


@pytest.mark.parametrize(
    "config",
    [
        {"layers": [{"config": {}}]},
        {"layers": ["Dense"]},
        {"layers": [{"class": "Dense", "config": {"in_features": 2}}]},
        {"layers": [{"class": "Dense", "config": {"in_features": 2, "colour": 1}}]},
        {"layers": [{"class": "Dense", "config": [2, 3]}]},
    ],
)
def test_from_config_reports_malformed_configs_clearly(config):
    with pytest.raises(ValueError):
        fnn.Sequential.from_config(config)


def test_the_copy_machinery_knows_every_attribute_a_model_sets(rng):
    """Attributes outside MODEL_ATTRIBUTES are carried into copies as they are
    (a subclass's own); one of Sequential's own missing from the list would
    make copies share it (a workspace pool, a lock)."""
    from fastnn import _model_state

    x, y = data(rng)
    model = model_with(fnn.SGD(lr=0.1, momentum=0.9), dropout=True)
    model.fit(x, y, epochs=1, verbose=0, seed=0)
    model.predict(x)
    assert set(vars(model)) == _model_state.MODEL_ATTRIBUTES
