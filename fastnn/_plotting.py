"""Training curves of a :class:`~fastnn.History`, drawn with matplotlib.

matplotlib is an optional extra (``pip install ".[plot]"`` from the fastnn
clone): it is imported only when a curve is drawn, so ``import fastnn`` never
loads it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from fastnn.callbacks import History

#: Logged every epoch but not learning curves: drawn only when named in ``keys``.
NOT_CURVES = ("time_s",)

INSTALL_HINT = (
    'install it with pip install ".[plot]" from the fastnn clone '
    "(or pip install matplotlib)"
)


def require_matplotlib() -> Any:
    """The ``matplotlib`` module, or an ImportError that says how to install it."""
    try:
        import matplotlib
    except ImportError as error:
        raise ImportError(f"plotting needs matplotlib: {INSTALL_HINT}") from error
    return matplotlib


def quantities(history: History, keys: Sequence[str] | None = None) -> list[str]:
    """The quantities to draw, one subplot each: ``keys``, or every logged name
    less its ``val_`` prefix (in logging order, so the loss comes first) except
    :data:`NOT_CURVES`."""
    if not history.epoch:
        raise ValueError(
            "History.plot: the history is empty (no epoch was trained); "
            "fit with epochs >= 1 first"
        )
    logged = []
    for key in history.history:
        name = key[4:] if key.startswith("val_") else key
        if name not in logged:
            logged.append(name)
    if keys is None:
        names = [name for name in logged if name not in NOT_CURVES]
    else:
        names = [keys] if isinstance(keys, str) else list(keys)
        if not names or any(name not in logged for name in names):
            raise ValueError(
                f"keys: expected names among {logged} (validation curves are "
                f"drawn with their quantity), got {names!r}"
            )
    for name in names:
        for key in (name, f"val_{name}"):
            values = history.history.get(key, history.epoch)
            if len(values) != len(history.epoch):
                raise ValueError(
                    f"History.plot: {key!r} has {len(values)} values for "
                    f"{len(history.epoch)} epochs"
                )
    return names


def _draw(history: History, names: Sequence[str], axes: Sequence[Axes]) -> None:
    """One quantity per Axes: its training curve and, where logged, its
    validation curve, against the epoch counted from 1 (as ``fit`` prints it)."""
    from matplotlib.ticker import MaxNLocator

    epochs = [epoch + 1 for epoch in history.epoch]
    for name, ax in zip(names, axes):
        for key, label in ((name, "train"), (f"val_{name}", "validation")):
            if key not in history.history:
                continue
            ax.plot(epochs, history.history[key], marker="o", markersize=3, label=label)
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3)
        ax.legend()


def plot_history(
    history: History,
    keys: Sequence[str] | None = None,
    *,
    ax: Axes | Sequence[Axes] | None = None,
    path: str | os.PathLike[str] | None = None,
    pyplot: bool = True,
) -> Figure:
    """:meth:`History.plot`; ``pyplot=False`` builds the Figure without
    pyplot (no GUI backend, no global figure list: what a command line that
    only writes a file wants)."""
    require_matplotlib()
    names = quantities(history, keys)
    if ax is None:
        size = (4.5 * len(names), 3.5)
        if pyplot:
            import matplotlib.pyplot as plt

            figure, axes = plt.subplots(
                1, len(names), figsize=size, sharex=True, layout="constrained"
            )
        else:
            from matplotlib.figure import Figure

            figure = Figure(figsize=size, layout="constrained")
            axes = figure.subplots(1, len(names), sharex=True)
        axes = list(axes) if len(names) > 1 else [axes]
    else:
        # one Axes, a list of them, or the array plt.subplots returns
        axes = [ax] if hasattr(ax, "plot") else list(np.ravel(np.asarray(ax, object)))
        if len(axes) != len(names):
            raise ValueError(
                f"ax: {len(names)} quantities to draw ({', '.join(names)}) need "
                f"{len(names)} Axes, got {len(axes)}; pass keys= to choose fewer"
            )
        figure = axes[0].figure
    _draw(history, names, axes)
    if path is not None:
        figure.savefig(path)
    return figure


def check_image_path(path: str, option: str) -> None:
    """A ValueError unless ``path`` ends in an image format matplotlib writes
    (checked before training, not after it)."""
    from matplotlib.backend_bases import FigureCanvasBase

    formats = sorted(FigureCanvasBase.get_supported_filetypes())
    suffix = os.path.splitext(path)[1][1:].lower()
    if suffix not in formats:
        raise ValueError(
            f"{option} {path}: expected a file name ending in one of "
            f"{', '.join('.' + f for f in formats)}"
        )
