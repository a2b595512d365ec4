"""Every CUDA kernel against the CPU kernel and the float64 reference."""

import inspect

import numpy as np
import pytest

from fastnn import kernels
from fastnn.kernels import cpu
from fastnn.kernels import cuda as kcuda
from fastnn.kernels._cuda_api import cuda_module
from fastnn.kernels.cuda import gemm
from tests import reference as ref
from tests.cuda.conftest import SIMULATOR, host, to_dev

cuda = cuda_module()

ACTIVATIONS = ["identity", "relu", "leaky_relu", "sigmoid", "tanh"]
DTYPES = [np.float32, np.float64]
# The simulator accumulates float32 sums in float32, where compiled PTX may
# promote to float64; these bounds cover both.
TOL = {np.float32: 1e-4, np.float64: 1e-11}


def close(actual, expected, dtype):
    ref.assert_close(actual, expected, dtype, TOL)


def test_cuda_mirrors_cpu_function_for_function():
    for name in cpu.__all__:
        assert name in kcuda.__all__, name
        assert inspect.signature(getattr(cpu, name)) == inspect.signature(
            getattr(kcuda, name)
        ), name
    assert set(cpu.__all__) == set(kcuda.__all__)
    for module in ("activations", "dense", "dropout", "losses", "metrics", "optim"):
        assert hasattr(kcuda, module) and hasattr(cpu, module)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "trans_a, trans_b", [(False, False), (True, False), (False, True)]
)
@pytest.mark.parametrize("m, k, n", [(1, 1, 1), (5, 7, 3), (9, 6, 10)])
def test_tiled_gemm_all_transposes(rng, dtype, trans_a, trans_b, m, k, n):
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
    c = cuda.device_array((m, n), dtype)
    gemm.tiled_matmul(*to_dev(a, b), c, trans_a, trans_b)
    expected = (a.T if trans_a else a).astype(np.float64) @ (b.T if trans_b else b)
    close(host(c), expected, dtype)


@pytest.mark.skipif(SIMULATOR, reason="cuBLAS needs a real GPU and CuPy")
@pytest.mark.parametrize("dtype", DTYPES)
def test_cublas_path_matches_tiled_kernel(rng, dtype):
    pytest.importorskip("cupy")
    a = rng.standard_normal((70, 50)).astype(dtype)
    b = rng.standard_normal((60, 50)).astype(dtype)
    bias = rng.standard_normal(60).astype(dtype)
    c1 = cuda.device_array((70, 60), dtype)
    c2 = cuda.device_array((70, 60), dtype)
    da, db_, dbias = to_dev(a, b, bias)
    gemm.tiled_matmul(da, db_, c1, False, True, dbias, 1, 0.0)
    gemm.cublas_matmul(da, db_, c2, False, True, dbias, 1, 0.0)
    close(host(c2), host(c1), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("with_bias", [True, False])
def test_dense_forward_backward(rng, dtype, activation, with_bias):
    batch, n_in, n_out = 6, 5, 7
    x = rng.standard_normal((batch, n_in)).astype(dtype)
    w = (rng.standard_normal((n_in, n_out)) / 2).astype(dtype)
    b = rng.standard_normal(n_out).astype(dtype) if with_bias else None
    out = cuda.device_array((batch, n_out), dtype)
    dx_, dw_, db_ = to_dev(x, w, b)
    kernels.dense_forward(dx_, dw_, db_, out, activation=activation)
    z, expected = ref.dense_forward(x, w, b, activation)
    close(host(out), expected, dtype)
    cpu_out = np.empty((batch, n_out), dtype)
    cpu.dense_forward(x, w, b, cpu_out, activation)
    close(host(out), cpu_out, dtype)

    dout = rng.standard_normal((batch, n_out)).astype(dtype)
    grads = [
        cuda.device_array(s, dtype) for s in ((batch, n_in), (n_in, n_out), (n_out,))
    ]
    kernels.dense_backward(
        dx_,
        dw_,
        out,
        cuda.to_device(dout),
        grads[0],
        grads[1],
        grads[2] if with_bias else None,
        activation=activation,
    )
    exp_dx, exp_dw, exp_db = ref.dense_backward(x, w, z, dout, activation)
    close(host(grads[0]), exp_dx, dtype)
    close(host(grads[1]), exp_dw, dtype)
    if with_bias:
        close(host(grads[2]), exp_db, dtype)


def test_dense_backward_without_dx(rng):
    x = rng.standard_normal((3, 4))
    w = rng.standard_normal((4, 2))
    out = np.empty((3, 2))
    cpu.dense_forward(x, w, None, out, "tanh")
    dout = rng.standard_normal((3, 2))
    dw = cuda.device_array((4, 2))
    kernels.dense_backward(*to_dev(x, w, out, dout), None, dw, None, activation="tanh")
    z, _ = ref.dense_forward(x, w, None, "tanh")
    close(host(dw), ref.dense_backward(x, w, z, dout, "tanh")[1], np.float64)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_forward_backward(rng, dtype, name):
    x = (2 * rng.standard_normal((3, 5))).astype(dtype)
    out = cuda.device_array(x.shape, dtype)
    kernels.activation_forward(name, cuda.to_device(x), out)
    close(host(out), ref.activation(name, x), dtype)
    dout = rng.standard_normal(x.shape).astype(dtype)
    dx = cuda.device_array(x.shape, dtype)
    kernels.activation_backward(name, out, cuda.to_device(dout), dx)
    close(host(dx), dout * ref.activation_derivative(name, x), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_family(rng, dtype):
    x = (3 * rng.standard_normal((5, 4))).astype(dtype)
    x[0] = [1e4, -1e4, 0, 1]
    out = cuda.device_array(x.shape, dtype)
    kernels.softmax(cuda.to_device(x), out)
    close(host(out), ref.softmax(x), dtype)
    kernels.log_softmax(cuda.to_device(x), out)
    close(host(out), ref.log_softmax(x), dtype)
    y = ref.softmax(x).astype(dtype)
    dout = rng.standard_normal(x.shape).astype(dtype)
    dx = cuda.device_array(x.shape, dtype)
    kernels.softmax_backward(*to_dev(y, dout), dx)
    expected = np.empty_like(x)
    cpu.softmax_backward(y, dout, expected)
    close(host(dx), expected, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_cross_entropy(rng, dtype):
    logits = (3 * rng.standard_normal((7, 4))).astype(dtype)
    logits[0] = [1e4, -1e4, 0, 0]
    labels = rng.integers(0, 4, 7)
    dlogits = cuda.device_array(logits.shape, dtype)
    loss = kernels.softmax_cross_entropy(*to_dev(logits, labels), dlogits)
    exp_loss, exp_grad = ref.softmax_cross_entropy(logits, labels)
    assert isinstance(loss, float) and np.isfinite(loss)
    close(loss, exp_loss, dtype)
    close(host(dlogits), exp_grad, dtype)
    assert kernels.softmax_cross_entropy(*to_dev(logits, labels)) == pytest.approx(loss)


def test_softmax_cross_entropy_rejects_bad_labels_on_device():
    logits = cuda.to_device(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="labels"):
        kernels.softmax_cross_entropy(logits, cuda.to_device(np.array([0, 3])))


@pytest.mark.parametrize("dtype", DTYPES)
def test_mse_and_bce(rng, dtype):
    a = rng.standard_normal((5, 3)).astype(dtype)
    t = rng.uniform(0, 1, (5, 3)).astype(dtype)
    grad = cuda.device_array(a.shape, dtype)
    loss = kernels.mse(*to_dev(a, t), grad)
    exp_loss, exp_grad = ref.mse(a, t)
    close(loss, exp_loss, dtype)
    close(host(grad), exp_grad, dtype)
    loss = kernels.binary_cross_entropy_with_logits(*to_dev(a, t), grad)
    exp_loss, exp_grad = ref.binary_cross_entropy_with_logits(a, t)
    close(loss, exp_loss, dtype)
    close(host(grad), exp_grad, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "options",
    [
        dict(momentum=0.0),
        dict(momentum=0.9, weight_decay=0.01),
        dict(momentum=0.9, nesterov=True),
        dict(momentum=0.5, dampening=0.3),
    ],
)
def test_sgd_matches_cpu_kernel(rng, dtype, options):
    p = rng.standard_normal(13).astype(dtype)
    p_cpu, v_cpu = p.copy(), np.zeros_like(p)
    d_p, d_v = to_dev(p, np.zeros_like(p))
    for step in range(1, 6):
        g = rng.standard_normal(13).astype(dtype)
        cpu.sgd_update(p_cpu, g, v_cpu, step, 0.1, **{"momentum": 0.0, **options})
        kernels.sgd_update(d_p, cuda.to_device(g), d_v, step, 0.1, **options)
    close(host(d_p), p_cpu, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("decoupled", [False, True])
def test_adam_matches_cpu_kernel(rng, dtype, decoupled):
    p = rng.standard_normal(11).astype(dtype)
    p_cpu, m_cpu, v_cpu = p.copy(), np.zeros_like(p), np.zeros_like(p)
    d_p, d_m, d_v = to_dev(p, np.zeros_like(p), np.zeros_like(p))
    for step in range(1, 6):
        g = rng.standard_normal(11).astype(dtype)
        cpu.adam_update(
            p_cpu, g, m_cpu, v_cpu, step, 0.01, weight_decay=0.1, decoupled=decoupled
        )
        kernels.adam_update(
            d_p,
            cuda.to_device(g),
            d_m,
            d_v,
            step,
            0.01,
            weight_decay=0.1,
            decoupled=decoupled,
        )
    close(host(d_p), p_cpu, dtype)
    close(host(d_m), m_cpu, dtype)


def test_dropout_and_metrics(rng):
    x = rng.standard_normal((4, 5)).astype(np.float32)
    u = rng.random((4, 5)).astype(np.float32)
    out = cuda.device_array(x.shape, np.float32)
    kernels.dropout_forward(*to_dev(x, u), out, 0.3)
    close(host(out), x * (u >= 0.3) / 0.7, np.float32)
    dx = cuda.device_array(x.shape, np.float32)
    kernels.dropout_backward(*to_dev(u, x), dx, 0.3)
    close(host(dx), x * (u >= 0.3) / 0.7, np.float32)
    labels = rng.integers(0, 5, 4)
    assert kernels.count_correct(*to_dev(x, labels)) == int(
        np.sum(x.argmax(1) == labels)
    )
    t = (u > 0.5).astype(np.float32)
    assert kernels.count_correct_binary(*to_dev(x, t)) == int(
        np.sum((x > 0) == (t > 0.5))
    )


def test_mixing_host_and_device_arrays_is_rejected():
    x = np.zeros((2, 3), np.float32)
    w = cuda.to_device(np.zeros((3, 4), np.float32))
    with pytest.raises(
        TypeError,
        match="cannot mix host and device arrays in one call: x, out on the host, w on the GPU",
    ):
        kernels.dense_forward(x, w, None, np.zeros((2, 4), np.float32))


def test_device_arrays_get_the_same_checks():
    x = cuda.to_device(np.zeros((2, 3), np.float32))
    w = cuda.to_device(np.zeros((4, 4), np.float32))
    out = cuda.device_array((2, 4), np.float32)
    with pytest.raises(ValueError, match=r"w: expected shape \(3, \*\)"):
        kernels.dense_forward(x, w, None, out)
    with pytest.raises(TypeError, match="dtype float64"):
        kernels.dense_forward(x, cuda.to_device(np.zeros((3, 4))), None, out)


@pytest.mark.skipif(SIMULATOR, reason="CuPy/PyTorch arrays need a real GPU")
def test_foreign_device_arrays_zero_copy(rng):
    cupy = pytest.importorskip("cupy")
    x = cupy.asarray(rng.standard_normal((4, 3)).astype(np.float32))
    w = cupy.asarray(rng.standard_normal((3, 2)).astype(np.float32))
    out = cupy.empty((4, 2), np.float32)
    kernels.dense_forward(x, w, None, out, activation="relu")
    close(
        cupy.asnumpy(out), np.maximum(cupy.asnumpy(x) @ cupy.asnumpy(w), 0), np.float32
    )


def test_a_frozen_layer_skips_dw_on_the_gpu(rng):
    x = rng.standard_normal((6, 5))
    w = rng.standard_normal((5, 4)) / 2
    b = rng.standard_normal(4)
    out = cuda.device_array((6, 4), np.float64)
    dx_, dw_, db_ = to_dev(x, w, b)
    kernels.dense_forward(dx_, dw_, db_, out, activation="tanh")
    dout = rng.standard_normal((6, 4))
    grad_x, grad_b = cuda.device_array((6, 5)), cuda.device_array(4)
    kernels.dense_backward(
        dx_, dw_, out, cuda.to_device(dout), grad_x, None, grad_b, "tanh"
    )
    z, _ = ref.dense_forward(x, w, b, "tanh")
    exp_dx, _, exp_db = ref.dense_backward(x, w, z, dout, "tanh")
    close(host(grad_x), exp_dx, np.float64)
    close(host(grad_b), exp_db, np.float64)
