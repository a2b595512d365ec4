"""Reading input rows into the model's dtype (CPU): a mini-batch gathered by
index, or a block of rows converted, each value multiplied by ``scale``.

This is what lets a model keep the user's data as given (uint8 images,
float64 tables) and convert one batch at a time, instead of holding a float32
copy of the whole dataset. The product runs in the output dtype:
``out = out_dtype(source) * out_dtype(scale)``.
"""

from .._jit import cpu_jit


@cpu_jit
def gather_rows(source, indices, out, scale):
    """out[k, :] = source[indices[k], :] * scale, for source (N, F) of any
    real dtype and layout, indices (B,), out (B, F) float."""
    one = out.dtype.type(scale)
    for k in range(indices.size):
        row = indices[k]
        for j in range(out.shape[1]):
            out[k, j] = out.dtype.type(source[row, j]) * one


@cpu_jit
def convert_rows(source, out, scale):
    """out = source * scale, elementwise, into out's dtype; both (B, F)."""
    one = out.dtype.type(scale)
    for k in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[k, j] = out.dtype.type(source[k, j]) * one
