"""Loss curves and learning-rate plots: train solid, validation dashed, one colour per run.

Colours are the Okabe-Ito palette, safe for colour-blind readers. Every figure gets a title,
axis labels and a legend (the live lab's legend is HTML beside its ``LiveCurves`` figure).
"""
from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import matplotlib
import matplotlib.pyplot as plt
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from .train import History

PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")


def _as_runs(histories) -> list[tuple[str, History]]:
    if isinstance(histories, History):
        histories = [histories]
    if isinstance(histories, Mapping):
        runs = list(histories.items())
    else:
        runs = [(h.label or f"run {i + 1}", h) for i, h in enumerate(histories)]
    for label, h in runs:
        if not isinstance(h, History):
            raise TypeError(f"{label!r} is a {type(h).__name__}, not an lrlab History")
    if not runs:
        raise ValueError("nothing to plot: pass at least one History")
    return runs


def loss_curves(histories, *, title: str = "Training and validation loss", ax=None,
                faint: int = 0, log: bool = False):
    """Per-epoch train (solid) and validation (dashed) loss of one run, a list or a dict
    ``{label: History}``. The first ``faint`` runs are drawn pale (earlier runs in the lab)."""
    runs = _as_runs(histories)
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(6.4, 3.8))
    for i, (label, h) in enumerate(runs):
        colour, alpha = PALETTE[i % len(PALETTE)], 0.3 if i < faint else 1.0
        epochs = range(1, len(h.train_loss) + 1)
        ax.plot(epochs, h.train_loss, "-", color=colour, alpha=alpha, label=f"{label} train")
        ax.plot(range(1, len(h.val_loss) + 1), h.val_loss, "--", color=colour, alpha=alpha,
                label=f"{label} val")
    ax.set(title=title, xlabel="epoch", ylabel="cross-entropy loss")
    if log:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", ncol=2 if len(runs) > 2 else 1)
    return fig


def lr_schedule(history: History, *, title: str = "Learning rate of each group", ax=None):
    """Each group's lr at every optimizer step, on a log axis (a 10x ratio between groups looks
    the same at any lr); an lr of 0, a frozen part, sits on a short linear stretch at the bottom."""
    if not history.lrs:
        raise ValueError("this History has no per-step learning rates (was it built from epochs?)")
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(6.4, 3.2))
    for g, name in enumerate(history.group_names):
        ax.plot([lrs[g] for lrs in history.lrs], color=PALETTE[g % len(PALETTE)], label=name)
    positive = [lr for lrs in history.lrs for lr in lrs if lr > 0]
    if positive and len(positive) < sum(map(len, history.lrs)):
        ax.set_yscale("symlog", linthresh=min(positive))
    elif positive:
        ax.set_yscale("log")
    ax.set(title=title, xlabel="optimizer step", ylabel="learning rate")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return fig


class Curve(NamedTuple):
    """One run in a ``LiveCurves`` frame: its losses so far, its colour, and whether it is the
    run on screen (drawn strong) or an earlier one (drawn faint)."""
    train: Sequence[float]
    val: Sequence[float]
    colour: str
    current: bool


class LiveCurves:
    """The live lab's loss figure as SVG: sharp at any zoom and pixel ratio, and cheap to redraw.

    The axes (ticks, labels, title, grid) are rendered once per pair of axis limits; a frame
    renders only the runs' lines, on a layer with the same geometry, laid over the axes. Lines
    past the x limit (an earlier, longer run) are clipped. ``pixels`` is the size at which the
    figure is meant to be shown (CSS pixels, 96 per inch)."""

    def __init__(self, size: tuple[float, float] = (6.4, 3.2),
                 title: str = "Training and validation loss"):
        self.size, self.title = size, title
        self.pixels = (round(size[0] * 96), round(size[1] * 96))
        self._axes_layer: tuple[tuple[float, float], str] | None = None
        self._earlier_layer: tuple[tuple, str] | None = None
        self._runs_fig, self._runs_ax = self._new_axes(gid="runs")
        self._runs_fig.patch.set_visible(False)
        self._runs_ax.set_axis_off()

    def _new_axes(self, gid: str):
        fig = Figure(figsize=self.size)
        FigureCanvasSVG(fig)
        fig.set_gid(gid)
        fig.subplots_adjust(left=0.1, right=0.97, bottom=0.15, top=0.9)
        return fig, fig.add_subplot()

    @staticmethod
    def _svg(fig: Figure) -> str:
        buffer = io.StringIO()
        fig.canvas.print_svg(buffer, metadata={"Date": None})
        return buffer.getvalue()

    def axes_svg(self, xmax: float, ymax: float) -> str:
        """The axes alone (no runs) for these limits: rendered once, then reused."""
        if self._axes_layer is None or self._axes_layer[0] != (xmax, ymax):
            fig, ax = self._new_axes(gid="axes")
            ax.set(title=self.title, xlabel="epoch", ylabel="cross-entropy loss",
                   xlim=(0.8, xmax), ylim=(0, ymax))
            ax.grid(alpha=0.3)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=8))
            ax.yaxis.set_major_locator(MaxNLocator(nbins=5))
            with matplotlib.rc_context({"svg.fonttype": "none"}):     # text as text: small, sharp
                self._axes_layer = ((xmax, ymax), self._svg(fig))
        return self._axes_layer[1]

    def _layer(self, curves: Sequence[Curve], xmax: float, ymax: float) -> str:
        """The SVG group of ``curves`` alone, in the axes' coordinates."""
        ax = self._runs_ax
        if ax.get_xlim() != (0.8, xmax) or ax.get_ylim() != (0, ymax):
            ax.set(xlim=(0.8, xmax), ylim=(0, ymax))
        while len(ax.lines) < 2 * len(curves):      # lines are reused: a new Line2D costs more
            ax.add_line(Line2D([], [], ls="--" if len(ax.lines) % 2 else "-"))
        for i, line in enumerate(ax.lines):
            line.set_visible(i < 2 * len(curves))
            if i < 2 * len(curves):
                curve = curves[i // 2]
                values = curve.val if i % 2 else curve.train
                line.set_data(range(1, len(values) + 1),
                              [v if math.isfinite(v) else math.nan for v in values])
                line.set(color=curve.colour, alpha=1.0 if curve.current else 0.35,
                         lw=2.2 if curve.current else 1.5)
        runs = self._svg(self._runs_fig)
        return runs[runs.index('<g id="runs">'):runs.rindex("</svg>")]

    def frame(self, curves: Sequence[Curve], xmax: float, ymax: float) -> bytes:
        """An SVG document: the axes for ``(0.8, xmax) x (0, ymax)`` and every curve over them,
        train solid and validation dashed; a non-finite loss leaves a gap. The earlier runs'
        layer is kept while they and the limits stay the same: a live frame redraws one run."""
        axes = self.axes_svg(xmax, ymax)
        earlier = [c for c in curves if not c.current]
        key = (xmax, ymax, tuple((tuple(c.train), tuple(c.val), c.colour) for c in earlier))
        if self._earlier_layer is None or self._earlier_layer[0] != key:
            self._earlier_layer = (key, self._layer(earlier, xmax, ymax) if earlier else "")
        layers = self._earlier_layer[1] + self._layer([c for c in curves if c.current], xmax, ymax)
        end = axes.rindex("</svg>")
        return (axes[:end] + layers + axes[end:]).encode()
