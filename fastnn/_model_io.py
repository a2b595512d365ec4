"""How a ``Sequential`` describes and saves itself: the layer table
(``summary``), the architecture as a dict (``get_config``), the
.safetensors file (``save``) and the ONNX graph (``to_onnx``).
``Sequential`` inherits these as a mixin (``ModelDescription``);
``Sequential.from_config`` rebuilds a model from ``get_config``'s dict."""

from __future__ import annotations

import os
from typing import IO, TYPE_CHECKING, Any, cast

import numpy as np

if TYPE_CHECKING:
    from fastnn.layers import Layer
    from fastnn.model import Sequential


class ModelDescription:
    """The description and persistence methods of ``Sequential`` (see the
    module docstring)."""

    # what the methods below read of the model (set by Sequential.__init__)
    layers: list[Layer]
    dtype: np.dtype[Any]
    device: str
    in_features: int
    input_scale: float | None

    if TYPE_CHECKING:

        @property
        def n_params(self) -> int: ...

        def _param_layout(self) -> list[tuple[Layer, list[tuple[int, ...]], int]]: ...

    def summary(self) -> None:
        """Print the layer table: output shapes and parameter counts
        (``summary_text``)."""
        print(self.summary_text())

    def summary_text(self) -> str:
        """The layer table that ``summary`` prints.

        Returns
        -------
        str
            One line per layer (name, output shape, parameter count), then
            the total.
        """
        rows = [("Layer (type)", "Output Shape", "Param #")]
        width = self.in_features
        for i, (layer, shapes, _) in enumerate(self._param_layout()):
            width = layer.output_features(width)
            count = sum(int(np.prod(s)) for s in shapes)
            rows.append(
                (
                    f"{type(layer).__name__.lower()}_{i} ({type(layer).__name__})",
                    f"(None, {width})",
                    f"{count:,}",
                )
            )
        widths = [max(len(r[c]) for r in rows) + 2 for c in range(3)]
        line = "=" * sum(widths)
        out = [f"Model: Sequential ({self.dtype}, {self.device})", line]
        for j, row in enumerate(rows):
            out.append("".join(cell.ljust(w) for cell, w in zip(row, widths)))
            if j == 0:
                out.append(line)
        out += [line, f"Total params: {self.n_params:,}"]
        return "\n".join(out)

    def save(self, path: str | os.PathLike[str] | IO[bytes]) -> None:
        """Write weights, optimizer state and config to one .safetensors file,
        atomically (see ``fastnn.persistence``).

        Parameters
        ----------
        path : str, os.PathLike or binary file object
            A path (replaced atomically) or a file object opened for writing
            in binary mode (written from its current position, left open).

        Raises
        ------
        TypeError
            For bytes, a text-mode file object or another type.
        ValueError
            When the path is a directory, link or other non-regular file.
        """
        from fastnn.persistence import save_model

        save_model(cast("Sequential", self), path)

    def to_onnx(self, path: str | os.PathLike[str]) -> None:
        """Write the trained network as an ONNX graph (opset 17) for inference
        runtimes; needs the ``onnx`` package (see ``fastnn._onnx``).

        Parameters
        ----------
        path : str or os.PathLike
            Where to write the ``.onnx`` file (atomically).
        """
        from fastnn import _onnx

        _onnx.save(cast("Sequential", self), path)

    def get_config(self) -> dict[str, Any]:
        """The architecture: what ``from_config`` rebuilds the model from.

        Returns
        -------
        dict
            ``{"layers": [{"class": ..., "config": ...}, ...], "dtype": ...}``
            and ``"input_scale"`` when set; JSON-serialisable. Weights,
            loss and optimizer are not included.
        """
        config: dict[str, Any] = {
            "layers": [
                {"class": type(layer).__name__, "config": layer.get_config()}
                for layer in self.layers
            ],
            "dtype": str(self.dtype),
        }
        if self.input_scale is not None:
            config["input_scale"] = self.input_scale
        return config
