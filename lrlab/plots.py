"""Loss curves and learning-rate plots: train solid, validation dashed, one colour per run.

Colours are the Okabe-Ito palette, safe for colour-blind readers. Every figure gets a title,
axis labels and a legend.
"""
from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt

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
