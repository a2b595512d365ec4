"""fastnn.torch: conversions both ways and a torch layer on fastnn's kernels,
checked against PyTorch itself (nn.Linear, its activations, autograd)."""

import subprocess
import sys

import numpy as np
import pytest

import fastnn as fnn

torch = pytest.importorskip("torch")
fnt = pytest.importorskip("fastnn.torch")
nn = torch.nn

FEATURES = 6
#: float32 outputs agree to this (absolute and relative); float64 far tighter
TOL = {"float32": 1e-5, "float64": 1e-12}
DTYPES = ("float32", "float64")
TORCH_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def outputs(module, x):
    with torch.no_grad():
        return module.eval()(torch.from_numpy(x)).numpy()


def check_to_torch(model, x):
    """to_torch(model) computes predict's numbers, in the model's dtype."""
    module = fnt.to_torch(model)
    got = outputs(module, x)
    tol = TOL[str(model.dtype)]
    assert got.dtype == model.dtype
    np.testing.assert_allclose(got, model.predict(x), rtol=tol, atol=tol)
    return module


def inputs(dtype, rows=9, scale=2.0):
    rng = np.random.default_rng(0)
    return (rng.standard_normal((rows, FEATURES)) * scale).astype(dtype)


# --------------------------------------------------------------- imports
def test_fastnn_does_not_import_torch_and_the_error_names_the_extra():
    code = (
        "import sys\n"
        "import fastnn\n"
        "assert 'torch' not in sys.modules, 'import fastnn imported torch'\n"
        "sys.modules['torch'] = None  # as if PyTorch were not installed\n"
        "try:\n"
        "    import fastnn.torch\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert 'pip install ".[torch]"' in proc.stdout
    assert "fastnn[torch]" in proc.stdout


# ------------------------------------------------------ fastnn -> torch
FUSED = [
    ("relu", 0.01),
    ("leaky_relu", 0.01),
    ("leaky_relu", 0.3),
    ("sigmoid", 0.01),
    ("tanh", 0.01),
    ("identity", 0.01),
    (None, 0.01),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation, slope", FUSED)
def test_fused_dense_activation_matches_predict(activation, slope, dtype):
    model = fnn.Sequential(
        [fnn.Dense(FEATURES, 5, activation, negative_slope=slope), fnn.Dense(5, 3)],
        dtype=dtype,
        seed=1,
    )
    module = check_to_torch(model, inputs(dtype))
    kinds = [type(m) for m in module]
    if activation in (None, "identity"):
        assert kinds == [nn.Linear, nn.Linear]
    else:
        assert kinds == [nn.Linear, type(fnt._activation(activation, slope)), nn.Linear]
    if activation == "leaky_relu":
        assert module[1].negative_slope == slope


LAYERS = [
    (fnn.ReLU, {}, nn.ReLU),
    (fnn.LeakyReLU, {"negative_slope": 0.2}, nn.LeakyReLU),
    (fnn.Sigmoid, {}, nn.Sigmoid),
    (fnn.Tanh, {}, nn.Tanh),
    (fnn.Softmax, {}, nn.Softmax),
    (fnn.Dropout, {"p": 0.4}, nn.Dropout),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cls, config, torch_cls", LAYERS)
def test_each_layer_kind_matches_predict(cls, config, torch_cls, dtype):
    model = fnn.Sequential(
        [fnn.Dense(FEATURES, 5), cls(**config), fnn.Dense(5, 4), cls(**config)],
        dtype=dtype,
        seed=2,
    )
    module = check_to_torch(model, inputs(dtype))
    assert [type(m) for m in module] == [nn.Linear, torch_cls, nn.Linear, torch_cls]
    assert module[0].weight.dtype == TORCH_DTYPES[dtype]
    if cls is fnn.Softmax:
        assert module[1].dim == -1
    if cls is fnn.Dropout:
        assert module[1].p == 0.4


@pytest.mark.parametrize("dtype", DTYPES)
def test_weights_are_copied_exactly_and_module_starts_in_training_mode(dtype):
    model = fnn.Sequential([fnn.Dense(FEATURES, 5), fnn.Dense(5, 2)], dtype, seed=3)
    module = fnt.to_torch(model)
    params = model.parameters()
    for i in (0, 1):
        np.testing.assert_array_equal(
            module[i].weight.detach().numpy(), params[f"layers.{i}.W"].T
        )
        np.testing.assert_array_equal(
            module[i].bias.detach().numpy(), params[f"layers.{i}.b"]
        )
        assert module[i].weight.is_contiguous()
    assert module.training  # as any new torch module: .eval() for inference


@pytest.mark.parametrize("dtype", DTYPES)
def test_input_scale_becomes_a_scaling_module(dtype):
    model = fnn.Sequential(
        [fnn.Dense(FEATURES, 4, "relu"), fnn.Dense(4, 3)],
        dtype=dtype,
        seed=4,
        input_scale=1 / 255,
    )
    pixels = np.random.default_rng(1).integers(0, 256, (8, FEATURES))
    module = check_to_torch(model, pixels.astype(dtype))
    assert type(module[0]) is fnt.InputScale and module[0].scale == 1 / 255
    assert module[0].factor.dtype == TORCH_DTYPES[dtype]
    # exact: the same product in the same dtype as fastnn's input conversion
    x = pixels.astype(dtype)
    np.testing.assert_array_equal(
        outputs(nn.Sequential(module[0]), x), x * np.dtype(dtype).type(1 / 255)
    )


def test_dropout_is_active_in_training_mode():
    model = fnn.Sequential([fnn.Dense(FEATURES, 50), fnn.Dropout(0.5)], seed=0)
    module = fnt.to_torch(model).train()
    y = module(torch.from_numpy(inputs("float32")))
    assert (y == 0).float().mean() > 0.2


def test_fastnn_kernels_option_uses_fused_torch_dense_layers():
    model = fnn.Sequential(
        [fnn.Dense(FEATURES, 5, "tanh"), fnn.ReLU(), fnn.Dense(5, 3), fnn.Softmax()],
        dtype="float64",
        seed=5,
    )
    module = check_to_torch(model, inputs("float64"))  # nn.Linear first
    fused = fnt.to_torch(model, fastnn_kernels=True)
    assert [type(m) for m in fused] == [fnt.Dense, nn.ReLU, fnt.Dense, nn.Softmax]
    assert fused[0].activation == "tanh" and fused[2].activation == "identity"
    x = inputs("float64")
    np.testing.assert_allclose(outputs(fused, x), outputs(module, x), atol=1e-12)
    np.testing.assert_array_equal(
        fused[0].W.detach().numpy(), model.parameters()["layers.0.W"]
    )


def test_to_torch_refuses_unbuilt_models_and_unknown_layers():
    with pytest.raises(RuntimeError, match="no weights yet"):
        fnt.to_torch(fnn.Sequential([fnn.Dense(3, 2)]))

    class Custom(fnn.ReLU):
        pass

    model = fnn.Sequential([fnn.Dense(3, 2), Custom()], seed=0)
    with pytest.raises(ValueError, match=r"layers\[1\] is a Custom"):
        fnt.to_torch(model)
    with pytest.raises(TypeError, match="fastnn.Sequential"):
        fnt.to_torch(nn.Sequential(nn.Linear(3, 2)))


# ------------------------------------------------------ torch -> fastnn
def torch_model(dtype=torch.float32):
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(FEATURES, 7),
        nn.ReLU(),
        nn.Linear(7, 6),
        nn.LeakyReLU(0.2),
        nn.Dropout(0.3),
        nn.Linear(6, 5),
        nn.Sigmoid(),
        nn.Linear(5, 4),
        nn.Tanh(),
        nn.Linear(4, 3),
        nn.Softmax(dim=1),
    ).to(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_from_torch_matches_torch_and_round_trips_exactly(dtype):
    module = torch_model(TORCH_DTYPES[dtype])
    model = fnt.from_torch(module)
    assert model.dtype == np.dtype(dtype) and model.built
    assert [type(layer).__name__ for layer in model.layers] == [
        "Dense",
        "ReLU",
        "Dense",
        "LeakyReLU",
        "Dropout",
        "Dense",
        "Sigmoid",
        "Dense",
        "Tanh",
        "Dense",
        "Softmax",
    ]
    assert model.layers[3].negative_slope == 0.2 and model.layers[4].p == 0.3
    x = inputs(dtype)
    tol = TOL[dtype]
    np.testing.assert_allclose(model.predict(x), outputs(module, x), rtol=tol, atol=tol)
    # torch -> fastnn -> torch: the same modules, the same bits
    back = fnt.to_torch(model)
    assert [type(m) for m in back] == [type(m) for m in module]
    for (name, a), (name_b, b) in zip(
        module.state_dict().items(), back.state_dict().items()
    ):
        assert name == name_b
        assert a.dtype == b.dtype
        assert torch.equal(a, b), name


@pytest.mark.parametrize("dtype", DTYPES)
def test_fastnn_to_torch_and_back_is_exact(dtype):
    model = fnn.Sequential(
        [
            fnn.Dense(FEATURES, 5, "leaky_relu", negative_slope=0.3),
            fnn.Dense(5, 4),
            fnn.Sigmoid(),
            fnn.Dense(4, 3),
        ],
        dtype=dtype,
        seed=6,
        input_scale=0.5,
    )
    back = fnt.from_torch(fnt.to_torch(model))
    assert back.dtype == model.dtype and back.input_scale == 0.5
    weights = model.get_weights()
    assert back.get_weights().tobytes() == weights.tobytes()
    # the fused activation comes back as a layer of its own, run fused again
    assert [type(layer).__name__ for layer in back.layers] == [
        "Dense",
        "LeakyReLU",
        "Dense",
        "Sigmoid",
        "Dense",
    ]
    x = inputs(dtype)
    np.testing.assert_array_equal(back.predict(x), model.predict(x))
    fused = fnt.from_torch(fnt.to_torch(model, fastnn_kernels=True))
    assert fused.get_config()["layers"] == model.get_config()["layers"]
    assert fused.get_weights().tobytes() == weights.tobytes()


def test_from_torch_options_and_a_linear_without_bias():
    module = nn.Sequential(nn.Linear(FEATURES, 3, bias=False), nn.Softmax(dim=-1))
    model = fnt.from_torch(module, dtype="float64", input_scale=2.0)
    assert model.dtype == np.float64 and model.input_scale == 2.0
    np.testing.assert_array_equal(model.parameters()["layers.0.b"], np.zeros(3))
    x = inputs("float32")
    np.testing.assert_allclose(
        model.predict(x), outputs(module, 2 * x), rtol=1e-6, atol=1e-7
    )
    with pytest.raises(ValueError, match="both as an option"):
        fnt.from_torch(fnt.to_torch(model), input_scale=3.0)


@pytest.mark.parametrize(
    "modules, error, match",
    [
        (
            [nn.Linear(FEATURES, 4), nn.ReLU(), nn.Conv1d(1, 1, 1)],
            ValueError,
            r"module\[2\] \(Conv1d\) has no fastnn layer",
        ),
        (
            [nn.Linear(FEATURES, 4), nn.Sequential(nn.ReLU())],
            ValueError,
            r"module\[1\] \(Sequential\)",
        ),
        (
            [nn.Linear(FEATURES, 4), nn.GELU()],
            ValueError,
            r"module\[1\] \(GELU\)",
        ),
        (
            [nn.Linear(FEATURES, 4), nn.Softmax(dim=0)],
            ValueError,
            r"module\[1\] \(Softmax\).*dim=0",
        ),
        (
            [nn.Linear(FEATURES, 4), nn.LeakyReLU(-0.1)],
            ValueError,
            r"module\[1\] \(LeakyReLU\).*negative_slope",
        ),
        ([nn.ReLU(), nn.Linear(FEATURES, 4)], ValueError, r"module\[0\].*Linear"),
        ([], ValueError, "first layer must be a Linear"),
        (
            [nn.Linear(FEATURES, 4), nn.Linear(5, 2)],
            ValueError,
            "receives 4 features",
        ),
        (
            [nn.Linear(FEATURES, 4).half()],
            TypeError,
            "float32 or all float64, got float16",
        ),
        (
            [nn.Linear(FEATURES, 4).bfloat16()],
            TypeError,
            "float32 or all float64, got bfloat16",
        ),
        (
            [nn.Linear(FEATURES, 4), nn.Linear(4, 2).double()],
            TypeError,
            "got float32, float64",
        ),
    ],
)
def test_from_torch_refuses_what_it_cannot_convert(modules, error, match):
    with pytest.raises(error, match=match):
        fnt.from_torch(nn.Sequential(*modules))


def test_from_torch_refuses_a_subclass_and_a_non_sequential():
    class MyReLU(nn.ReLU):
        pass

    with pytest.raises(ValueError, match=r"module\[1\] \(MyReLU\)"):
        fnt.from_torch(nn.Sequential(nn.Linear(3, 2), MyReLU()))
    with pytest.raises(TypeError, match="torch.nn.Sequential"):
        fnt.from_torch(nn.Linear(3, 2))


# ---------------------------------------------- fastnn.torch.Dense (autograd)
ACTIVATIONS = [
    (None, 0.01),
    ("relu", 0.01),
    ("leaky_relu", 0.3),
    ("sigmoid", 0.01),
    ("tanh", 0.01),
]


def reference(linear, activation, slope):
    """nn.Linear followed by torch's own activation."""
    if activation in (None, "identity"):
        return linear
    return nn.Sequential(linear, fnt._activation(activation, slope))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation, slope", ACTIVATIONS)
def test_dense_outputs_and_gradients_match_linear(activation, slope, dtype):
    tdtype = TORCH_DTYPES[dtype]
    torch.manual_seed(0)
    linear = nn.Linear(FEATURES, 5, dtype=tdtype)
    ours = fnt.Dense.from_linear(linear, activation, slope)
    ref = reference(linear, activation, slope)
    # (2, 4, I): leading dimensions as nn.Linear takes them
    x = torch.randn(2, 4, FEATURES, dtype=tdtype)
    x_ours, x_ref = x.clone().requires_grad_(), x.clone().requires_grad_()
    y_ours, y_ref = ours(x_ours), ref(x_ref)
    assert y_ours.shape == (2, 4, 5) and y_ours.dtype == tdtype
    tol = TOL[dtype]
    torch.testing.assert_close(y_ours, y_ref, rtol=tol, atol=tol)
    weights = torch.randn(2, 4, 5, dtype=tdtype)
    (y_ours * weights).sum().backward()
    (y_ref * weights).sum().backward()
    torch.testing.assert_close(x_ours.grad, x_ref.grad, rtol=tol, atol=tol)
    torch.testing.assert_close(ours.W.grad, linear.weight.grad.T, rtol=tol, atol=tol)
    torch.testing.assert_close(ours.b.grad, linear.bias.grad, rtol=tol, atol=tol)


@pytest.mark.parametrize("activation, slope", ACTIVATIONS)
def test_dense_passes_gradcheck_in_float64(activation, slope):
    torch.manual_seed(1)
    layer = fnt.Dense(4, 3, activation, negative_slope=slope, dtype=torch.float64)
    x = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)

    def dense(x, W, b):
        return fnt._DenseFunction.apply(x, W, b, layer.activation, slope)

    assert torch.autograd.gradcheck(dense, (x, layer.W, layer.b))


def test_dense_without_bias_frozen_weights_and_strided_input():
    torch.manual_seed(2)
    linear = nn.Linear(FEATURES, 3, bias=False, dtype=torch.float64)
    ours = fnt.Dense.from_linear(linear)
    assert ours.b is None and "bias=False" in repr(ours)
    ours.W.requires_grad_(False)
    x = torch.randn(FEATURES, 7, dtype=torch.float64).T  # not contiguous
    x_ours, x_ref = x.clone().requires_grad_(), x.clone().requires_grad_()
    assert not x_ours.is_contiguous()
    y = ours(x_ours)
    torch.testing.assert_close(y, linear(x_ref), rtol=1e-12, atol=1e-12)
    y.sum().backward()
    linear(x_ref).sum().backward()
    assert ours.W.grad is None
    torch.testing.assert_close(x_ours.grad, x_ref.grad, rtol=1e-12, atol=1e-12)
    # an input without grad: no dx is asked for
    ours.W.requires_grad_(True)
    ours(x.detach()).sum().backward()
    torch.testing.assert_close(ours.W.grad, linear.weight.grad.T)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sgd_steps_give_the_weights_of_linear_layers(dtype):
    tdtype = TORCH_DTYPES[dtype]
    torch.manual_seed(3)
    ref = nn.Sequential(
        nn.Linear(FEATURES, 8, dtype=tdtype),
        nn.ReLU(),
        nn.Linear(8, 8, dtype=tdtype),
        nn.Tanh(),
        nn.Linear(8, 3, dtype=tdtype),
    )
    ours = nn.Sequential(
        fnt.Dense.from_linear(ref[0], "relu"),
        fnt.Dense.from_linear(ref[2], "tanh"),
        fnt.Dense.from_linear(ref[4]),
    )
    x = torch.randn(16, FEATURES, dtype=tdtype)
    y = torch.randint(0, 3, (16,))
    start = ours[0].W.detach().clone()
    for net in (ref, ours):
        optimizer = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
        for _ in range(5):
            optimizer.zero_grad()
            nn.functional.cross_entropy(net(x), y).backward()
            optimizer.step()
    tol = 10 * TOL[dtype]
    for k, i in enumerate((0, 2, 4)):
        torch.testing.assert_close(ours[k].W, ref[i].weight.T, rtol=tol, atol=tol)
        torch.testing.assert_close(ours[k].b, ref[i].bias, rtol=tol, atol=tol)
    assert (ours[0].W - start).abs().max() > 1e-3  # the steps moved the weights


def test_dense_initialises_as_linear_and_checks_its_arguments():
    torch.manual_seed(4)
    layer = fnt.Dense(100, 3)
    assert layer.W.shape == (100, 3) and layer.W.dtype == torch.get_default_dtype()
    assert layer.W.abs().max() <= 0.1 and layer.b.abs().max() <= 0.1
    assert layer.W.std() > 0.04  # uniform in [-0.1, 0.1]: std 0.058
    with pytest.raises(ValueError, match="activation: unknown 'gelu'"):
        fnt.Dense(3, 2, "gelu")
    with pytest.raises(TypeError, match="dtype"):
        fnt.Dense(3, 2, dtype=torch.float16)
    with pytest.raises(ValueError, match="in_features"):
        fnt.Dense(0, 2)
    with pytest.raises(ValueError, match="negative_slope"):
        fnt.Dense(3, 2, "leaky_relu", negative_slope=-1.0)


def test_dense_refuses_other_devices_dtypes_and_shapes():
    layer = fnt.Dense(4, 3)
    with pytest.raises(ValueError, match=r"x: expected shape \(\*, 4\), got \(2, 5\)"):
        layer(torch.randn(2, 5))
    with pytest.raises(TypeError, match="x: dtype torch.float64 does not match"):
        layer(torch.randn(2, 4, dtype=torch.float64))
    with pytest.raises(TypeError, match="torch.Tensor"):
        layer(np.zeros((2, 4), np.float32))
    # a tensor on another device (a CUDA one on a GPU): refused before any kernel
    with pytest.raises(ValueError, match="x: on meta; .*CPU tensors"):
        layer(torch.empty(2, 4, device="meta"))
    meta = fnt.Dense(4, 3).to("meta")
    with pytest.raises(ValueError, match="W: on meta"):
        meta(torch.randn(2, 4))
    half = fnt.Dense(4, 3).half()
    with pytest.raises(TypeError, match="W: dtype torch.float16"):
        half(torch.randn(2, 4).half())


def test_dense_modifying_its_output_in_place_is_caught_by_autograd():
    layer = fnt.Dense(4, 3, "relu")
    y = layer(torch.randn(2, 4))
    y.add_(1)  # the backward reads relu' from the saved output
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_benchmark_steps_run_once():
    """benchmarks/torch_interop.py: each contender's step runs (not timed)."""
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import torch_interop

    assert torch_interop.SETTINGS[0] == "defaults"
    for step in (
        torch_interop.fastnn_step(),
        torch_interop.torch_step(fastnn_kernels=False),
        torch_interop.torch_step(fastnn_kernels=True),
    ):
        step()


def test_dense_converted_with_double_trains_in_float64():
    layer = fnt.Dense(4, 3, activation="tanh").double()
    assert layer.W.dtype == torch.float64 and layer.b.dtype == torch.float64
    x = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a: layer(a), (x,))
    linear = torch.nn.Linear(4, 3).double()
    with torch.no_grad():
        linear.weight.copy_(layer.W.T)
        linear.bias.copy_(layer.b)
    torch.testing.assert_close(layer(x), torch.tanh(linear(x)), rtol=1e-12, atol=1e-12)
