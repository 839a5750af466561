"""Small models whose parts have names, so parameter groups can be built by name.

``mlp()`` returns ``model.body`` (numbered blocks ``block1``, ``block2``, ...) and
``model.head``: the names the lessons use in ``{'params': model.body.parameters(), ...}``.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn


class MLP(nn.Module):
    """A classifier with a ``body`` of numbered blocks and a linear ``head``."""

    def __init__(self, n_in: int, hidden: tuple[int, ...], n_classes: int,
                 batchnorm: bool = False, dropout: float = 0.0):
        super().__init__()
        blocks, width = OrderedDict(), n_in
        for i, size in enumerate(hidden, start=1):
            layers = OrderedDict(linear=nn.Linear(width, size))
            if batchnorm:
                layers["norm"] = nn.BatchNorm1d(size)
            layers["act"] = nn.ReLU()
            if dropout:
                layers["drop"] = nn.Dropout(dropout)
            blocks[f"block{i}"] = nn.Sequential(layers)
            width = size
        self.body = nn.Sequential(blocks)
        self.head = nn.Linear(width, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def mlp(hidden=(128, 128), *, n_in: int = 64, n_classes: int = 10, batchnorm: bool = False,
        dropout: float = 0.0, seed: int | None = 0) -> MLP:
    """A digits classifier: 64 inputs -> ``hidden`` blocks -> ``n_classes`` logits.

    With a ``seed`` the initial weights are always the same (the CPU generator is used and
    restored, so the caller's random state is left alone).
    """
    hidden = tuple(int(h) for h in hidden)
    if not hidden or any(h < 1 for h in hidden):
        raise ValueError(f"hidden must list at least one positive layer width, got {hidden}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    if seed is None:
        return MLP(n_in, hidden, n_classes, batchnorm, dropout)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return MLP(n_in, hidden, n_classes, batchnorm, dropout)


def parts(model: nn.Module) -> list[str]:
    """Names of the model's submodules that own parameters, outermost first."""
    return [name for name, module in model.named_modules()
            if name and any(True for _ in module.parameters())]
