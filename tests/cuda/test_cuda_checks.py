"""Device arrays get the host's buffer checks: overlapping outputs are refused
by address (the simulator by its arrays' host memory), neighbouring slices of
one device buffer and the documented in-place aliases are accepted."""

import numpy as np
import pytest

from fastnn import kernels
from fastnn.kernels._cuda_api import cuda_module
from tests import reference as ref
from tests.cuda.conftest import host
from tests.kernels.test_aliasing import (
    PAIR_IDS,
    PAIRS,
    WRITERS,
    allowed,
    arrays_for,
    call,
    dtype_of,
    nbytes,
    refusal,
)

cuda = cuda_module()

BATCH, N_OUT = 3, 5


def device_views(shared, placements):
    """Views of the device byte buffer ``shared``: {arg: (byte offset, shape)}."""
    out = {}
    for arg, (offset, shape) in placements.items():
        dtype = np.dtype(dtype_of(arg))
        size = dtype.itemsize * int(np.prod(shape))
        out[arg] = shared[offset : offset + size].view(dtype).reshape(shape)
    return out


def on_device(arrays):
    return {arg: cuda.to_device(a) for arg, a in arrays.items()}


@pytest.mark.parametrize("fn, output, other", PAIRS, ids=PAIR_IDS)
def test_partial_overlap_refused_on_device(fn, output, other):
    shapes = WRITERS[fn][0]
    shared = cuda.to_device(np.zeros(nbytes(fn, output) + nbytes(fn, other), np.uint8))
    arrays = on_device(arrays_for(fn))
    arrays.update(
        device_views(shared, {output: (0, shapes[output]), other: (8, shapes[other])})
    )
    with pytest.raises(ValueError, match=refusal(output, other)):
        call(fn, arrays)


@pytest.mark.parametrize("fn, output, other", PAIRS, ids=PAIR_IDS)
def test_same_start_on_device(fn, output, other):
    shapes = WRITERS[fn][0]
    shared = cuda.to_device(np.zeros(nbytes(fn, output) + nbytes(fn, other), np.uint8))
    arrays = on_device(arrays_for(fn))
    arrays.update(
        device_views(shared, {arg: (0, shapes[arg]) for arg in (output, other)})
    )
    if allowed(fn, output, other):
        call(fn, arrays)  # views of one memory, not the same object: in place
    else:
        with pytest.raises(ValueError, match=refusal(output, other)):
            call(fn, arrays)


@pytest.mark.parametrize(
    "fn, output, other",
    [
        ("softmax_cross_entropy", "dlogits", "logits"),
        ("dense_backward", "dw", "w"),
        ("dense_backward", "dout", "out"),
        ("adam_update", "m", "param"),
        ("adam_update", "v", "m"),
        ("sgd_update", "velocity", "param"),
    ],
)
def test_same_device_array_refused(fn, output, other):
    arrays = on_device(arrays_for(fn))
    arrays[other] = arrays[output]
    with pytest.raises(ValueError, match=refusal(output, other)):
        call(fn, arrays)


@pytest.mark.parametrize(
    "fn, output, other",
    [
        ("dense_backward", "dw", "db"),
        ("dense_backward", "dx", "dout"),
        ("softmax_cross_entropy", "dlogits", "labels"),
        ("adam_update", "m", "v"),
        ("sgd_update", "param", "velocity"),
        ("dropout_forward", "out", "u"),
    ],
)
def test_adjacent_device_slices_accepted(rng, fn, output, other):
    """Neighbouring slices of one device buffer: the host kernels' result."""
    shapes = WRITERS[fn][0]
    separate = arrays_for(fn, rng)
    first = nbytes(fn, output)
    shared_host = np.zeros(first + nbytes(fn, other), np.uint8)
    placements = {output: (0, shapes[output]), other: (first, shapes[other])}
    arrays = on_device(separate)
    for arg, (offset, _) in placements.items():
        size = nbytes(fn, arg)
        shared_host[offset : offset + size] = separate[arg].reshape(-1).view(np.uint8)
    arrays.update(device_views(cuda.to_device(shared_host), placements))
    result = call(fn, arrays)
    expected = call(fn, separate)
    if expected is not None:
        assert result == pytest.approx(expected, rel=1e-9)
    for arg in WRITERS[fn][1]:
        np.testing.assert_allclose(
            host(arrays[arg]), separate[arg], rtol=1e-9, err_msg=arg
        )


def test_activation_and_softmax_in_place_on_device(rng):
    x = 3 * rng.standard_normal((BATCH, N_OUT))
    d_x = cuda.to_device(x)
    kernels.activation_forward("tanh", d_x, d_x)
    ref.assert_close(host(d_x), np.tanh(x), np.float64)
    d_x = cuda.to_device(x)
    kernels.softmax(d_x, d_x)
    ref.assert_close(host(d_x), ref.softmax(x), np.float64)


def test_loss_gradient_in_place_on_device(rng):
    logits = 3 * rng.standard_normal((BATCH, N_OUT))
    target = rng.random((BATCH, N_OUT))
    expected_loss, expected_grad = ref.binary_cross_entropy_with_logits(logits, target)
    d_logits, d_target = cuda.to_device(logits), cuda.to_device(target)
    loss = kernels.binary_cross_entropy_with_logits(d_logits, d_target, d_logits)
    ref.assert_close(loss, expected_loss, np.float64)
    ref.assert_close(host(d_logits), expected_grad, np.float64)


def test_host_and_device_buffers_are_not_compared():
    """A host array never shares memory with a device one: the mix is the error."""
    x = np.zeros((BATCH, N_OUT))
    with pytest.raises(TypeError, match="cannot mix host and device arrays"):
        kernels.softmax(x, cuda.to_device(x))
