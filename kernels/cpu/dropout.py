"""Inverted dropout from caller-supplied uniform noise (CPU).

The noise ``u`` (uniform in [0, 1), same shape as x) is drawn by the caller,
so one seeded generator drives dropout on every target and a resumed run
draws the same masks. An element survives when ``u >= p`` and is scaled by
1 / (1 - p), so inference needs no rescaling.
"""

from .._jit import cpu_jit


@cpu_jit
def _dropout(values, u, out, p):
    flat_v = values.reshape(values.size)
    flat_u = u.reshape(u.size)
    flat_out = out.reshape(out.size)
    scale = 1.0 / (1.0 - p)
    for i in range(flat_v.size):
        flat_out[i] = flat_v[i] * scale if flat_u[i] >= p else 0.0


def dropout_forward(x, u, out, p):
    """out = x * (u >= p) / (1 - p), elementwise (no argument checks)."""
    _dropout(x, u, out, p)


def dropout_backward(u, dout, dx, p):
    """dx = dout * (u >= p) / (1 - p): the same mask as the forward."""
    _dropout(dout, u, dx, p)
