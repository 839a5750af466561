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


# -- transfer variants (the fine-tuning lesson) -------------------------------------------------

def _images(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(-1, 8, 8)


def inverted(split: Split) -> Split:
    """Every image as its negative (``1 - x``): dark digits on a light page, as a different
    scanner might write them. Labels and sizes are unchanged."""
    flip = lambda t: (1.0 - t).contiguous()  # noqa: E731
    return Split(flip(split.x_train), split.y_train, flip(split.x_val), split.y_val,
                 split.classes, f"{split.name}, inverted")


def shifted(split: Split, dx: int = 1, dy: int = 1) -> Split:
    """Every 8x8 image moved ``dx`` pixels right and ``dy`` down (negative: left/up), the
    uncovered border filled with 0. An MLP sees each pixel as its own input, so a shift of one
    pixel already makes the inputs new to it."""
    if abs(dx) > 7 or abs(dy) > 7:
        raise ValueError(f"a shift must be under 8 pixels, got dx={dx}, dy={dy}")

    def move(t: torch.Tensor) -> torch.Tensor:
        out = torch.zeros_like(_images(t))
        src = _images(t)[:, max(0, -dy):8 - max(0, dy), max(0, -dx):8 - max(0, dx)]
        out[:, max(0, dy):8 - max(0, -dy), max(0, dx):8 - max(0, -dx)] = src
        return out.reshape(t.shape)

    return Split(move(split.x_train), split.y_train, move(split.x_val), split.y_val,
                 split.classes, f"{split.name}, shifted ({dx}, {dy})")


def few_shot(split: Split, per_class: int, *, seed: int = 0) -> Split:
    """Keep ``per_class`` training samples of each class, drawn with ``seed``; the validation
    set is left whole, so runs with different ``seed`` are scored on the same samples."""
    y = split.y_train.cpu().numpy()
    counts = np.bincount(y, minlength=split.n_classes)
    if isinstance(per_class, bool) or not isinstance(per_class, int) or not 1 <= per_class <= counts.min():
        raise ValueError(f"per_class must be a whole number from 1 to {counts.min()} "
                         f"(the rarest class's count), got {per_class!r}")
    rng = np.random.default_rng(seed)
    keep = np.sort(np.concatenate([rng.choice(np.flatnonzero(y == c), per_class, replace=False)
                                   for c in range(split.n_classes)]))
    idx = torch.from_numpy(keep).to(split.x_train.device)
    return Split(split.x_train[idx], split.y_train[idx], split.x_val, split.y_val, split.classes,
                 f"{split.name}, {per_class} per class")
