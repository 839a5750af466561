"""Offline data: scikit-learn's bundled 8x8 digits, split reproducibly.

Introduced in the lessons on parameter groups and loss curves. No download ever happens:
``sklearn.datasets.load_digits`` reads a file shipped inside scikit-learn.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
import torch

PRESETS = ("normal", "tiny", "leaky")


@dataclass(frozen=True)
class Split:
    """A train/validation split as tensors (features scaled to [0, 1], labels 0..k-1)."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    classes: tuple[int, ...]
    name: str = "digits"

    @property
    def n_features(self) -> int:
        return self.x_train.shape[1]

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def to(self, device) -> "Split":
        """The same split with every tensor on ``device``."""
        move = lambda t: t.to(device)  # noqa: E731
        return Split(move(self.x_train), move(self.y_train), move(self.x_val), move(self.y_val),
                     self.classes, self.name)

    def __repr__(self) -> str:
        return (f"Split({self.name!r}: {len(self.y_train)} train, {len(self.y_val)} val, "
                f"{self.n_features} features, classes {list(self.classes)})")


@lru_cache(maxsize=1)
def _load_digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return (bunch.data / 16.0).astype(np.float32), bunch.target.astype(np.int64)


def digits(classes=range(10), *, val_fraction: float = 0.3, n_train: int | None = None,
           leak: float = 0.0, seed: int = 0) -> Split:
    """Digits restricted to ``classes``, split into train and validation.

    ``n_train`` keeps only that many training samples (the overfitting lessons use 40).
    ``leak`` replaces that fraction of the validation set by copies of training samples:
    the data-leakage trap, where validation loss looks better than it is.
    The same ``seed`` always gives the same split.
    """
    classes = tuple(sorted(set(int(c) for c in classes)))
    if not classes or any(c < 0 or c > 9 for c in classes):
        raise ValueError(f"classes must be digits 0..9, got {list(classes)}")
    if len(classes) < 2:
        raise ValueError("classes needs at least two digits to classify")
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be between 0 and 1, got {val_fraction}")
    if not 0.0 <= leak <= 1.0:
        raise ValueError(f"leak is a fraction of the validation set, between 0 and 1, got {leak}")

    x, y = _load_digits()
    keep = np.isin(y, classes)
    x, y = x[keep], np.searchsorted(classes, y[keep])
    order = np.random.default_rng(seed).permutation(len(y))
    n_val = int(round(len(y) * val_fraction))
    val, train = order[:n_val], order[n_val:]
    if n_train is not None:
        if not 1 <= n_train <= len(train):
            raise ValueError(f"n_train must be between 1 and {len(train)} for these classes, got {n_train}")
        train = train[:n_train]
    if leak:
        n_leak = int(round(len(val) * leak))
        copies = np.random.default_rng(seed + 1).choice(train, size=n_leak, replace=True)
        val = np.concatenate([copies, val[n_leak:]])
    t = torch.from_numpy
    name = "digits" if classes == tuple(range(10)) else f"digits {classes[0]}-{classes[-1]}"
    return Split(t(x[train]), t(y[train]), t(x[val]), t(y[val]), classes, name)


def preset(name: str = "normal", *, seed: int = 0) -> Split:
    """The live lab's datasets: ``normal``, ``tiny`` (40 training samples) or ``leaky``."""
    if name == "normal":
        return digits(seed=seed)
    if name == "tiny":
        return replace(digits(n_train=40, seed=seed), name="digits, tiny train set")
    if name == "leaky":
        return replace(digits(leak=0.5, seed=seed), name="digits, leaky split")
    raise ValueError(f"unknown dataset preset {name!r}; choose one of {', '.join(PRESETS)}")


def duplicates_across(split: Split) -> int:
    """How many validation samples also appear, identical, in the training set."""
    train = {row.tobytes() for row in split.x_train.cpu().numpy()}
    return sum(row.tobytes() in train for row in split.x_val.cpu().numpy())
