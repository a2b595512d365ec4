"""ONNX export: onnxruntime runs the exported graph and matches ``predict``."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

import fastnn as fnn
from fastnn import _onnx
from fastnn.cli import main
from fastnn.layers import Layer

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

FEATURES = 12
#: float32 outputs agree to this (absolute and relative); float64 far tighter
TOL32 = 1e-5
TOL64 = 1e-12


def run_onnx(path, x):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"input": x})[0]


def export_and_compare(model, tmp_path, batches=(1, 17), tol=TOL32, scale=1.0):
    """Export ``model``, then compare onnxruntime with ``predict`` at each
    batch size of one exported file (the batch dimension is symbolic)."""
    path = tmp_path / "model.onnx"
    model.to_onnx(path)
    rng = np.random.default_rng(0)
    for batch in batches:
        x = (rng.standard_normal((batch, model.in_features)) * scale).astype(
            model.dtype
        )
        got = run_onnx(path, x)
        assert got.dtype == model.dtype and got.shape == (batch, model.out_features)
        np.testing.assert_allclose(got, model.predict(x), rtol=tol, atol=tol)
    return onnx.load(str(path))


def ops(proto):
    return [node.op_type for node in proto.graph.node]


ACTIVATIONS = [
    ("relu", 0.01, "Relu"),
    ("leaky_relu", 0.01, "LeakyRelu"),
    ("leaky_relu", 0.3, "LeakyRelu"),
    ("leaky_relu", 0.0, "LeakyRelu"),
    ("sigmoid", 0.01, "Sigmoid"),
    ("tanh", 0.01, "Tanh"),
]


@pytest.mark.parametrize("activation, slope, op", ACTIVATIONS)
def test_fused_dense_activation_matches_predict(activation, slope, op, tmp_path):
    model = fnn.Sequential(
        [
            fnn.Dense(FEATURES, 16, activation=activation, negative_slope=slope),
            fnn.Dense(16, 5),
        ],
        seed=0,
    )
    proto = export_and_compare(model, tmp_path, scale=3.0)
    assert ops(proto) == ["Gemm", op, "Gemm"]


@pytest.mark.parametrize(
    "layer, op",
    [
        (fnn.ReLU(), "Relu"),
        (fnn.LeakyReLU(0.2), "LeakyRelu"),
        (fnn.LeakyReLU(1.5), "LeakyRelu"),
        (fnn.Sigmoid(), "Sigmoid"),
        (fnn.Tanh(), "Tanh"),
    ],
    ids=["relu", "leaky-0.2", "leaky-1.5", "sigmoid", "tanh"],
)
def test_activation_layer_matches_predict(layer, op, tmp_path):
    model = fnn.Sequential([fnn.Dense(FEATURES, 16), layer, fnn.Dense(16, 5)], seed=1)
    proto = export_and_compare(model, tmp_path, scale=3.0)
    assert ops(proto) == ["Gemm", op, "Gemm"]
    if op == "LeakyRelu":
        alpha = proto.graph.node[1].attribute[0]
        assert alpha.name == "alpha" and alpha.f == pytest.approx(layer.negative_slope)


def test_softmax_dropout_and_input_scale(tmp_path):
    model = fnn.Sequential(
        [
            fnn.Dense(FEATURES, 16, activation="relu"),
            fnn.Dropout(0.5),
            fnn.Dense(16, 7),
            fnn.Softmax(),
        ],
        seed=2,
        input_scale=1 / 255,
    )
    proto = export_and_compare(model, tmp_path, batches=(1, 3, 64), scale=255.0)
    # the scale first, dropout gone, softmax last and row-wise
    assert ops(proto) == ["Mul", "Gemm", "Relu", "Gemm", "Softmax"]
    assert proto.graph.node[-1].attribute[0].i == -1
    x = np.random.default_rng(3).random((4, FEATURES), dtype=np.float32)
    np.testing.assert_allclose(
        run_onnx(tmp_path / "model.onnx", x).sum(axis=1), 1, rtol=1e-6
    )


def test_dropout_last_still_ends_in_output(tmp_path):
    model = fnn.Sequential([fnn.Dense(FEATURES, 4), fnn.Dropout(0.3)], seed=0)
    proto = export_and_compare(model, tmp_path)
    assert ops(proto) == ["Gemm"] and list(proto.graph.node[0].output) == ["output"]


def test_float64_model_exports_doubles(tmp_path):
    model = fnn.Sequential(
        [
            fnn.Dense(FEATURES, 16, activation="tanh"),
            fnn.Dense(16, 16),
            fnn.Sigmoid(),
            fnn.Dense(16, 8, activation="relu"),
            # a slope exact in float32: ONNX stores LeakyRelu's alpha as a float
            fnn.LeakyReLU(0.25),
            fnn.Dense(8, 3),
            fnn.Softmax(),
        ],
        dtype="float64",
        seed=3,
        input_scale=0.5,
    )
    proto = export_and_compare(model, tmp_path, tol=TOL64, scale=3.0)
    double = onnx.TensorProto.DOUBLE
    assert proto.graph.input[0].type.tensor_type.elem_type == double
    assert proto.graph.output[0].type.tensor_type.elem_type == double
    assert {t.data_type for t in proto.graph.initializer} == {double}


def test_graph_interface(tmp_path):
    model = fnn.Sequential([fnn.Dense(FEATURES, 8, activation="relu"), fnn.Dense(8, 3)])
    model.build(0)
    path = tmp_path / "model.onnx"
    model.to_onnx(str(path))  # a str path as well as a Path
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    assert proto.ir_version == _onnx.IR_VERSION == 8
    assert [(o.domain, o.version) for o in proto.opset_import] == [("", 17)]
    (inp,), (out,) = proto.graph.input, proto.graph.output
    assert inp.name == "input" and out.name == "output"
    dims = [
        [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
        for v in (inp, out)
    ]
    assert dims == [["batch", FEATURES], ["batch", 3]]
    # weights named as in model.parameters()
    stored = {t.name: onnx.numpy_helper.to_array(t) for t in proto.graph.initializer}
    for name, value in model.parameters().items():
        np.testing.assert_array_equal(stored[name], value)


def test_unbuilt_model_is_refused(tmp_path):
    model = fnn.Sequential([fnn.Dense(FEATURES, 3)])
    with pytest.raises(RuntimeError, match="no weights yet"):
        model.to_onnx(tmp_path / "model.onnx")
    assert not model.built and not (tmp_path / "model.onnx").exists()


class Doubler(Layer):
    """A custom layer: 2 x."""

    def forward(self, ops, x, out, training):
        ops.activation_forward("identity", x, out)
        out *= 2


@pytest.mark.parametrize("layer", [Doubler(), type("MyReLU", (fnn.ReLU,), {})()])
def test_layer_without_onnx_equivalent_is_named(layer, tmp_path):
    model = fnn.Sequential([fnn.Dense(FEATURES, 3), layer], seed=0)
    name = type(layer).__name__
    with pytest.raises(ValueError, match=rf"layers\[1\] \({name}\) has no ONNX"):
        model.to_onnx(tmp_path / "model.onnx")
    assert not (tmp_path / "model.onnx").exists()


def test_missing_onnx_package_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now fails
    model = fnn.Sequential([fnn.Dense(FEATURES, 3)], seed=0)
    with pytest.raises(ImportError, match=r'pip install "\.\[onnx\]"'):
        model.to_onnx(tmp_path / "model.onnx")


def test_mnist_model_matches_on_the_whole_test_set(mnist_dir, tmp_path):
    (x_train, y_train), (x_test, y_test) = fnn.datasets.load_mnist(
        mnist_dir, dtype="uint8"
    )
    model = fnn.Sequential(
        [fnn.Dense(784, 128, activation="relu"), fnn.Dense(128, 10)],
        input_scale=1 / 255,
    )
    model.compile(fnn.SGD(lr=0.05, momentum=0.9), "cross_entropy", ["accuracy"])
    model.fit(x_train, y_train, epochs=1, batch_size=128, seed=0, verbose=0)
    pixels = x_test.astype(np.float32)  # the graph reads the model's dtype
    expected = model.predict(x_test)
    path = tmp_path / "mnist.onnx"
    model.to_onnx(path)
    got = run_onnx(path, pixels)
    assert got.shape == (10000, 10)
    np.testing.assert_allclose(got, expected, rtol=TOL32, atol=TOL32)
    assert (got.argmax(axis=1) == y_test).mean() > 0.93


# -- fastnn export ------------------------------------------------------------


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    model = fnn.Sequential(
        [fnn.Dense(FEATURES, 8, activation="tanh"), fnn.Dense(8, 4), fnn.Softmax()],
        seed=0,
        input_scale=0.5,
    )
    model.compile(fnn.SGD(lr=0.1), "cross_entropy")
    path = tmp_path_factory.mktemp("model") / "small.safetensors"
    model.save(path)
    return path


def one_line_error(capsys):
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.startswith("fastnn: error: ") and err.count("\n") == 1, err
    return err


def test_cli_export(model_file, tmp_path, capsys):
    out = tmp_path / "small.onnx"
    assert main(["export", str(model_file), str(out)]) == 0
    assert f"wrote {out} (ONNX opset 17)" in capsys.readouterr().out
    x = np.random.default_rng(0).random((5, FEATURES), dtype=np.float32)
    expected = fnn.load_model(model_file).predict(x)
    np.testing.assert_allclose(run_onnx(out, x), expected, rtol=TOL32, atol=TOL32)


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda p: None, ": no such file"),
        (lambda p: p.mkdir(), ": is a directory, not a model file"),
        (lambda p: p.write_bytes(b"\x00" * 300), ""),
        (lambda p: p.write_text("not a model"), ""),
    ],
    ids=["missing", "directory", "garbage", "text"],
)
def test_cli_export_bad_model_file(make, expected, tmp_path, capsys):
    path = tmp_path / "bad.safetensors"
    make(path)
    out = tmp_path / "out.onnx"
    assert main(["export", str(path), str(out)]) == 1
    assert f"{path}{expected}" in one_line_error(capsys)
    assert not out.exists()


def test_cli_export_into_missing_folder(model_file, tmp_path, capsys):
    out = tmp_path / "no" / "such" / "out.onnx"
    assert main(["export", str(model_file), str(out)]) == 1
    assert "no such folder" in one_line_error(capsys)


def test_cli_export_without_onnx_is_a_one_line_error(
    model_file, tmp_path, monkeypatch, capsys
):
    monkeypatch.setitem(sys.modules, "onnx", None)
    assert main(["export", str(model_file), str(tmp_path / "out.onnx")]) == 1
    assert 'pip install ".[onnx]"' in one_line_error(capsys)


def test_cli_export_needs_two_arguments(model_file, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["export", str(model_file)])
    assert exit_info.value.code == 2
    assert "output" in capsys.readouterr().err


# -- benchmarks/onnx_compare.py -------------------------------------------------


def test_benchmark_script_runs(tmp_path, capsys, monkeypatch):
    """A few rounds of the comparison, so the script keeps working."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import onnx_compare

    monkeypatch.setattr(onnx_compare, "CASES", ((1, 1, 2), (8, 1, 1)))
    out = tmp_path / "onnx.json"
    assert onnx_compare.main(["--quick", "--json", str(out)]) == 0
    seconds = json.loads(out.read_text())["seconds"]
    assert set(seconds) == {"1", "8"}
    assert all(t > 0 for times in seconds.values() for t in times.values())
    assert "| batch 8 |" in capsys.readouterr().out
