"""A small Vision Transformer for the bundled 8x8 digits, with names that make groups read well.

Introduced in the lesson on fine-tuning transformers. ``vit()`` cuts each image into 16 patches
of 2x2 pixels, embeds them (``embed.patch``), prepends a class token (``embed.cls``) and adds
learned position embeddings (``embed.pos``); then ``blocks.0`` ... ``blocks.{L-1}`` (pre-norm:
``norm1``, ``attn.q/k/v/proj``, ``norm2``, ``mlp.fc1/fc2``), a final ``norm`` and a ``head``
that reads the class token. ``layer_id(name)`` numbers each parameter's layer as timm and BEiT
do for layer-wise lr decay: the embeddings 0, block i i+1, the final norm and the head L+1.

``add_lora(model)`` puts LoRA adapters (Hu et al., 2021) on chosen linear layers: each keeps its
weight, frozen, as ``base`` and learns ``lora_B @ lora_A`` beside it, ``lora_B`` starting at zero.
Attention is written out (no fused kernel), so the model runs under ``torch.func.vmap``.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

IMAGE, PATCH = 8, 2                       # 8x8 digits, 2x2 patches: a 4x4 grid of 16 tokens
N_PATCHES = (IMAGE // PATCH) ** 2


def patches(x: torch.Tensor) -> torch.Tensor:
    """Flat 8x8 images ``(..., 64)`` as their 2x2 patches ``(..., 16, 4)``, row by row."""
    if x.shape[-1] != IMAGE * IMAGE:
        raise ValueError(f"expected flat 8x8 images (last dimension 64), got shape {tuple(x.shape)}")
    grid = IMAGE // PATCH
    x = x.reshape(*x.shape[:-1], grid, PATCH, grid, PATCH).transpose(-3, -2)
    return x.reshape(*x.shape[:-4], N_PATCHES, PATCH * PATCH)


class Embed(nn.Module):
    """Patch embedding, class token and learned position embeddings: layer 0."""

    def __init__(self, width: int):
        super().__init__()
        self.patch = nn.Linear(PATCH * PATCH, width)
        self.cls = nn.Parameter(torch.zeros(1, 1, width))
        self.pos = nn.Parameter(torch.randn(1, N_PATCHES + 1, width) * 0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.patch(patches(x))
        return torch.cat([self.cls.expand(len(tokens), -1, -1), tokens], 1) + self.pos


class Attention(nn.Module):
    """Multi-head self-attention with separate ``q``, ``k``, ``v`` and ``proj`` layers."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        if width % heads:
            raise ValueError(f"width {width} must be a multiple of heads {heads}")
        self.heads = heads
        self.q, self.k, self.v, self.proj = (nn.Linear(width, width) for _ in range(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, w = x.shape
        split = lambda y: y.view(n, t, self.heads, w // self.heads).transpose(1, 2)  # noqa: E731
        q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
        weights = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(w // self.heads), -1)
        return self.proj((weights @ v).transpose(1, 2).reshape(n, t, w))


class MLP(nn.Module):
    """The block's feed-forward part: ``fc1``, GELU, ``fc2``."""

    def __init__(self, width: int, hidden: int):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(width, hidden), nn.Linear(hidden, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    """A pre-norm transformer block: ``x + attn(norm1(x))``, then ``x + mlp(norm2(x))``."""

    def __init__(self, width: int, heads: int, mlp_ratio: int):
        super().__init__()
        self.norm1, self.attn = nn.LayerNorm(width), Attention(width, heads)
        self.norm2, self.mlp = nn.LayerNorm(width), MLP(width, width * mlp_ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class ViT(nn.Module):
    """``embed``, ``blocks``, ``norm`` and a linear ``head`` on the class token."""

    def __init__(self, width: int, depth: int, heads: int, mlp_ratio: int, n_classes: int):
        super().__init__()
        self.embed = Embed(width)
        self.blocks = nn.ModuleList(Block(width, heads, mlp_ratio) for _ in range(depth))
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.embed(x)
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x[:, 0]))


def vit(*, width: int = 64, depth: int = 4, heads: int = 4, mlp_ratio: int = 2, n_classes: int = 10,
        seed: int | None = 0) -> ViT:
    """A digits ViT; with a ``seed`` the initial weights are always the same (the caller's
    random state is left alone)."""
    for name, value in (("width", width), ("depth", depth), ("heads", heads), ("mlp_ratio", mlp_ratio),
                        ("n_classes", n_classes)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive whole number, got {value!r}")
    if seed is None:
        return ViT(width, depth, heads, mlp_ratio, n_classes)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return ViT(width, depth, heads, mlp_ratio, n_classes)


def layer_id(name: str, depth: int) -> int:
    """The layer of parameter ``name`` in a ViT of ``depth`` blocks: ``embed.*`` 0,
    ``blocks.i.*`` i + 1, ``norm.*`` and ``head.*`` depth + 1 (timm's and BEiT's numbering)."""
    if name.startswith("embed."):
        return 0
    if name.startswith("blocks."):
        index = name.split(".")[1]
        if index.isdigit() and int(index) < depth:
            return int(index) + 1
    elif name.startswith(("norm.", "head.")):
        return depth + 1
    raise ValueError(f"{name!r} is not a parameter of a ViT with {depth} blocks "
                     f"(embed.*, blocks.0-{depth - 1}.*, norm.*, head.*)")


class LoRALinear(nn.Module):
    """``base(x) + scale * x @ lora_A.T @ lora_B.T``: the frozen ``base`` layer plus a rank-r
    update. ``lora_A`` (r, in) starts like a linear layer's weight, ``lora_B`` (out, r) at zero,
    so the model starts exactly where the pretrained one is (and ``lora_A``'s first gradient,
    which passes through ``lora_B``, is zero). ``scale`` is ``alpha / r``, as in peft."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float):
        super().__init__()
        self.base, self.scale = base, alpha / rank
        base.requires_grad_(False)
        self.lora_A = nn.Parameter(torch.empty(rank, base.in_features))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, rank))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + (x @ self.lora_A.T @ self.lora_B.T) * self.scale


def add_lora(model: ViT, targets=("attn.q", "attn.v"), *, rank: int = 4, alpha: float | None = None,
             seed: int = 0) -> ViT:
    """Freeze every parameter of ``model`` and wrap the linear layers named ``targets`` (in each
    block) in ``LoRALinear``; returns the model. ``alpha`` defaults to ``rank`` (scale 1); the
    ``lora_A`` are drawn with ``seed`` (the caller's random state is left alone). Unfreeze the
    head yourself if it is new (peft's ``modules_to_save``)."""
    if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
        raise ValueError(f"rank must be a positive whole number, got {rank!r}")
    model.requires_grad_(False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for block in model.blocks:
            for target in targets:
                owner_name, _, attr = target.rpartition(".")
                owner = block.get_submodule(owner_name) if owner_name else block
                layer = getattr(owner, attr, None)
                if not isinstance(layer, nn.Linear):
                    raise ValueError(f"{target!r} is not a linear layer of a block; try attn.q, attn.k, "
                                     "attn.v, attn.proj, mlp.fc1 or mlp.fc2")
                setattr(owner, attr, LoRALinear(layer, rank, float(alpha or rank)))
    return model
