"""Small models whose parts have names, so parameter groups can be built by name.

``mlp()`` returns ``model.body`` (numbered blocks ``block1``, ``block2``, ...) and
``model.head``: the names the lessons use in ``{'params': model.body.parameters(), ...}``.

Setting the environment variable ``LRLAB_PERTURB`` (e.g. ``1e-6``) multiplies every initial
weight lrlab builds by ``1 + rel * noise`` (``noise`` standard normal, from a generator of its own):
a claim about training that holds only for one exact set of starting weights (one BLAS, one
device) fails under it. ``tests/test_claims.py`` runs the lessons that way.
"""
from __future__ import annotations

import math
import os
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


PERTURB_ENV = "LRLAB_PERTURB"
PERTURB_SEED = 20240601     # the perturbation's own generator: the same noise on every call


def perturbation() -> float:
    """The relative perturbation of initial weights asked for in ``LRLAB_PERTURB`` (0 if unset)."""
    text = os.environ.get(PERTURB_ENV, "").strip()
    try:
        rel = float(text) if text else 0.0
    except ValueError:
        rel = math.nan
    if not (math.isfinite(rel) and 0 <= rel < 1):
        raise ValueError(f"{PERTURB_ENV} must be a relative size in [0, 1) such as 1e-6, got {text!r}; "
                         f"unset it to train from the exact initial weights")
    return rel


@torch.no_grad()
def perturbed(model: nn.Module, rel: float | None = None) -> nn.Module:
    """Multiply each parameter of ``model`` in place by ``1 + rel * noise`` and return it.

    ``noise`` is standard normal, drawn from a generator seeded with ``PERTURB_SEED`` (the
    caller's random state is left alone); ``rel=None`` reads ``LRLAB_PERTURB``; 0 changes nothing.
    """
    rel = perturbation() if rel is None else float(rel)
    if rel:
        gen = torch.Generator().manual_seed(PERTURB_SEED)
        for p in model.parameters():
            noise = torch.randn(p.shape, generator=gen, dtype=p.dtype)
            p.mul_(1 + rel * noise.to(p.device))
    return model


def mlp(hidden=(128, 128), *, n_in: int = 64, n_classes: int = 10, batchnorm: bool = False,
        dropout: float = 0.0, seed: int | None = 0, perturb: float | None = None) -> MLP:
    """A digits classifier: 64 inputs -> ``hidden`` blocks -> ``n_classes`` logits.

    With a ``seed`` the initial weights are always the same (the CPU generator is used and
    restored, so the caller's random state is left alone). ``perturb``: relative noise
    multiplied into them (see ``perturbed``); ``None`` reads ``LRLAB_PERTURB``.
    """
    hidden = tuple(int(h) for h in hidden)
    if not hidden or any(h < 1 for h in hidden):
        raise ValueError(f"hidden must list at least one positive layer width, got {hidden}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    if seed is None:
        return perturbed(MLP(n_in, hidden, n_classes, batchnorm, dropout), perturb)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = MLP(n_in, hidden, n_classes, batchnorm, dropout)
    return perturbed(model, perturb)


def parts(model: nn.Module) -> list[str]:
    """Names of the model's submodules that own parameters, outermost first."""
    return [name for name, module in model.named_modules()
            if name and any(True for _ in module.parameters())]
