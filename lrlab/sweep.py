"""Learning-rate grids trained all at once: one batched model, one configuration per slice.

Introduced in the live-lab lesson. ``lr_grid`` trains every (body lr, head lr) pair of a grid
as ONE model whose weights carry a leading "configuration" dimension: ``torch.func.vmap`` runs
``functional_call`` of the ordinary model over the stacked weights (or, for lrlab's own MLP, the
same stacked weights go through hand-batched ``baddbmm`` products), so the 64 small matrix
products of a step become a few large ones. Every configuration starts from the same initial
weights and sees the same batches in the same order as ``lrlab.train.training`` with the same
seed, and the optimizer update is written out with the formulas torch's SGD (momentum), Adam and
AdamW use — so a cell of the grid equals one ordinary run of that configuration, up to float
rounding (``tests/test_sweep.py`` checks it).

``result.heatmap()`` draws the final validation loss per cell and marks the best one.
"""
from __future__ import annotations

import copy
import functools
import math
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, vmap

from .data import Split
from .train import History, cpu_threads, pick_device

OPTIMIZERS = ("SGD momentum", "Adam", "AdamW")
MOMENTUM, BETAS, EPS, ADAMW_DECAY = 0.9, (0.9, 0.999), 1e-8, 0.01   # the live lab uses the same


@dataclass
class Grid:
    """Per-epoch losses of every configuration: tensors shaped (rows, cols, epochs)."""

    row_part: str
    col_part: str
    row_lrs: list[float]
    col_lrs: list[float]
    train_loss: torch.Tensor
    val_loss: torch.Tensor
    val_acc: torch.Tensor
    optimizer: str
    epochs: int
    device: str
    seconds: float

    @property
    def final(self) -> torch.Tensor:
        """Final validation loss per cell (rows = ``row_part`` lr, columns = ``col_part`` lr);
        a run that blew up reads ``nan``."""
        last = self.val_loss[..., -1].clone()
        bad = ~torch.isfinite(self.val_loss).all(-1)
        last[bad] = float("nan")
        return last

    def best(self) -> tuple[float, float, float]:
        """``(row lr, col lr, final val loss)`` of the best finite cell."""
        final = self.final
        if not torch.isfinite(final).any():
            raise ValueError("every configuration diverged")
        flat = torch.where(torch.isfinite(final), final, torch.inf).argmin().item()
        i, j = divmod(flat, final.shape[1])
        return self.row_lrs[i], self.col_lrs[j], final[i, j].item()

    def best_single(self) -> tuple[float, float]:
        """Best cell among those with the same lr for both parts: ``(lr, final val loss)``."""
        same = [(final, lr) for i, lr in enumerate(self.row_lrs) for j, other in enumerate(self.col_lrs)
                if math.isclose(lr, other, rel_tol=1e-9)
                and math.isfinite(final := self.final[i, j].item())]
        if not same:
            raise ValueError("the grid has no finite cell where both lrs are equal")
        loss, lr = min(same)
        return lr, loss

    def history(self, row_lr: float, col_lr: float) -> History:
        """One cell as a ``History`` of per-epoch losses (for ``lrlab.plots`` or ``diagnose``)."""
        i = min(range(len(self.row_lrs)), key=lambda k: abs(math.log(self.row_lrs[k] / row_lr)))
        j = min(range(len(self.col_lrs)), key=lambda k: abs(math.log(self.col_lrs[k] / col_lr)))
        hist = History.from_epochs(self.train_loss[i, j].tolist(), self.val_loss[i, j].tolist(),
                                   label=f"{self.row_part} {self.row_lrs[i]:.0e}, "
                                         f"{self.col_part} {self.col_lrs[j]:.0e}")
        hist.val_acc = self.val_acc[i, j].tolist()
        return hist

    def heatmap(self, *, ax=None, title: str | None = None):
        """Final validation loss per (row lr, col lr) cell; the best cell boxed; diverged cells ×."""
        import matplotlib.pyplot as plt
        import numpy as np

        final = self.final.numpy()
        fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(6.4, 5.0))
        shown = final.copy()
        image = ax.imshow(shown, origin="lower", cmap="viridis_r", aspect="auto")
        fig.colorbar(image, ax=ax, label="final validation loss")
        fmt = lambda v: f"{v:.0e}".replace("e-0", "e-")  # noqa: E731
        ax.set_xticks(range(len(self.col_lrs)), [fmt(v) for v in self.col_lrs], rotation=45)
        ax.set_yticks(range(len(self.row_lrs)), [fmt(v) for v in self.row_lrs])
        ax.set(xlabel=f"{self.col_part} learning rate", ylabel=f"{self.row_part} learning rate",
               title=title or f"{self.optimizer}, {self.epochs} epochs: final validation loss")
        for i in range(final.shape[0]):
            for j in range(final.shape[1]):
                if not math.isfinite(final[i, j]):
                    ax.text(j, i, "×", ha="center", va="center", color="#D55E00", fontsize=12)
                elif final.size <= 100:
                    ax.text(j, i, f"{final[i, j]:.2f}", ha="center", va="center", fontsize=7,
                            color="white" if final[i, j] > (np.nanmin(final) + np.nanmax(final)) / 2 else "black")
        row, col, loss = self.best()
        i, j = self.row_lrs.index(row), self.col_lrs.index(col)
        ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, ec="#D55E00", lw=2.5,
                                   label=f"best: {self.row_part} {fmt(row)}, {self.col_part} "
                                         f"{fmt(col)} → {loss:.3f}"))
        ax.legend(loc="upper left", fontsize="small", bbox_to_anchor=(0, -0.18))
        fig.tight_layout()
        return fig


def _check_model(model: nn.Module) -> None:
    if any(True for _ in model.buffers()):
        raise ValueError("lr_grid needs a model without buffers (no BatchNorm): running statistics "
                         "cannot be stacked per configuration here")
    if any(isinstance(m, nn.Dropout) and m.p > 0 for m in model.modules()):
        raise ValueError("lr_grid needs a model without dropout: random masks would differ from "
                         "one-at-a-time training")


def _part_of(name: str, parts: tuple[str, str]) -> int:
    for k, part in enumerate(parts):
        if name == part or name.startswith(part + "."):
            return k
    raise ValueError(f"parameter {name!r} belongs to neither {parts[0]!r} nor {parts[1]!r}")


def lr_grid(model: nn.Module, data: Split, row_lrs, col_lrs, *, parts=("body", "head"),
            optimizer: str = "SGD momentum", epochs: int = 10, batch_size: int = 32, seed: int = 0,
            device=None, threads: int | None = 1, method: str = "auto") -> Grid:
    """Train ``len(row_lrs) * len(col_lrs)`` copies of ``model`` at once, one per lr pair.

    ``parts`` names the two parts (rows get the first part's lr, columns the second's).
    ``optimizer``: ``"SGD momentum"`` (0.9), ``"Adam"`` or ``"AdamW"`` (weight decay 0.01), the
    live lab's choices. Same seed, same batches as ``lrlab.train.training``. ``threads``: CPU
    threads while training (see ``cpu_threads``). ``method``: ``"vmap"`` runs the model through
    ``torch.func.functional_call`` under ``vmap`` (any model without buffers or dropout);
    ``"auto"`` (default) uses the same stacked weights with hand-batched matrix products
    (``baddbmm``) when the model is an ``lrlab.models.MLP``: the same numbers, about a third faster.
    """
    if method not in ("auto", "vmap"):
        raise ValueError(f"method must be 'auto' or 'vmap', got {method!r}")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
    row_lrs, col_lrs = [float(v) for v in row_lrs], [float(v) for v in col_lrs]
    if not row_lrs or not col_lrs or any(not (v > 0 and math.isfinite(v)) for v in row_lrs + col_lrs):
        raise ValueError("row_lrs and col_lrs must be non-empty lists of positive learning rates")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive whole number, got {epochs!r}")
    _check_model(model)
    device = pick_device(device) if device is None or isinstance(device, str) else device
    with cpu_threads(threads, device):
        return _train_grid(model, data, row_lrs, col_lrs, tuple(parts), optimizer, epochs,
                           batch_size, seed, device, method)


def _train_grid(model, data, row_lrs, col_lrs, parts, optimizer, epochs, batch_size, seed,
                device, method) -> Grid:
    start = time.perf_counter()
    torch.manual_seed(seed)
    base = copy.deepcopy(model).to(device)
    data = data.to(device)
    rows, cols = len(row_lrs), len(col_lrs)
    n_cfg = rows * cols
    lr_of = torch.tensor([[r, c] for r in row_lrs for c in col_lrs], device=device)  # (n_cfg, 2)

    names, lrs, params = [], [], []
    for name, p in base.named_parameters():
        if not p.requires_grad:
            continue
        names.append(name)
        shape = (n_cfg,) + (1,) * p.dim()
        lrs.append(lr_of[:, _part_of(name, tuple(parts))].reshape(shape))
        params.append(p.detach().unsqueeze(0).repeat(n_cfg, *([1] * p.dim())).requires_grad_())
    frozen = {n: p.detach() for n, p in base.named_parameters() if not p.requires_grad}

    layers = _linear_stack(base, names) if method == "auto" and not frozen else None
    if layers is not None:
        batched = functools.partial(_stacked_mlp, layers=layers)
    else:
        def logits(weights, x):
            return functional_call(base, {**frozen, **dict(zip(names, weights))}, (x,))
        batched = vmap(logits, in_dims=(0, None))

    def losses(weights, x, y):
        out = batched(weights, x)                                        # (n_cfg, b, classes)
        return F.cross_entropy(out.flatten(0, 1), y.repeat(n_cfg), reduction="none").view(n_cfg, -1).mean(1)

    state = [torch.zeros_like(p) for p in params]
    second = [torch.zeros_like(p) for p in params] if optimizer != "SGD momentum" else []
    order = torch.Generator().manual_seed(seed)
    n = len(data.y_train)
    steps = math.ceil(n / batch_size)
    train_loss = torch.empty(n_cfg, epochs, device=device)
    val_loss = torch.empty(n_cfg, epochs, device=device)
    val_acc = torch.empty(n_cfg, epochs, device=device)
    t = 0
    for epoch in range(epochs):
        perm = torch.randperm(n, generator=order).to(device)
        total = torch.zeros(n_cfg, device=device)
        for s in range(steps):
            idx = perm[s * batch_size:(s + 1) * batch_size]
            loss = losses(params, data.x_train[idx], data.y_train[idx])
            grads = torch.autograd.grad(loss.sum(), params)
            t += 1
            with torch.no_grad():
                _update(optimizer, params, grads, lrs, state, second, t)
            total += loss.detach()
        train_loss[:, epoch] = total / steps
        with torch.no_grad():
            out = batched(params, data.x_val)
            val_loss[:, epoch] = F.cross_entropy(out.flatten(0, 1), data.y_val.repeat(n_cfg),
                                                 reduction="none").view(n_cfg, -1).mean(1)
            val_acc[:, epoch] = (out.argmax(-1) == data.y_val).float().mean(1)
    shape = (rows, cols, epochs)
    return Grid(parts[0], parts[1], row_lrs, col_lrs, train_loss.view(shape).cpu(),
                val_loss.view(shape).cpu(), val_acc.view(shape).cpu(), optimizer, epochs, str(device),
                time.perf_counter() - start)


def _linear_stack(model: nn.Module, names: list[str]):
    """For an ``lrlab.models.MLP`` of Linear + ReLU blocks: (weight index, bias index, relu?) per
    layer in forward order; ``None`` for any other model (then ``vmap`` does the batching)."""
    from .models import MLP

    if not isinstance(model, MLP):
        return None
    layers = []
    for block_name, block in model.body.named_children():
        if [type(m) for m in block.children()] != [nn.Linear, nn.ReLU]:
            return None
        prefix = f"body.{block_name}.linear"
        layers.append((names.index(f"{prefix}.weight"), names.index(f"{prefix}.bias"), True))
    layers.append((names.index("head.weight"), names.index("head.bias"), False))
    return layers if len(layers) * 2 == len(names) else None


def _stacked_mlp(weights, x, layers):
    """Logits of every configuration, (n_cfg, batch, classes), from stacked Linear weights."""
    h = None
    for w, b, relu in layers:
        weight, bias = weights[w], weights[b]                  # (n_cfg, out, in), (n_cfg, out)
        if h is None:                                          # the input is shared: one GEMM
            n_cfg, out = weight.shape[:2]
            h = (x @ weight.flatten(0, 1).T).view(len(x), n_cfg, out).transpose(0, 1) + bias.unsqueeze(1)
        else:
            h = torch.baddbmm(bias.unsqueeze(1), h, weight.transpose(1, 2))
        if relu:
            h = torch.relu(h)
    return h


def _update(optimizer, params, grads, lrs, state, second, t) -> None:
    """One step of every configuration, each with its own lr, using torch's formulas."""
    if optimizer == "SGD momentum":
        for p, g, lr, buf in zip(params, grads, lrs, state):
            if t == 1:
                buf.copy_(g)
            else:
                torch.add(g, buf, alpha=MOMENTUM, out=buf)      # buf = momentum * buf + g
            p.addcmul_(lr, buf, value=-1)                       # p -= lr * buf, in one pass
        return
    b1, b2 = BETAS
    bias1, bias2 = 1 - b1 ** t, 1 - b2 ** t
    for p, g, lr, m, v in zip(params, grads, lrs, state, second):
        if optimizer == "AdamW":
            p.mul_(1 - lr * ADAMW_DECAY)
        m.lerp_(g, 1 - b1)
        v.mul_(b2).addcmul_(g, g, value=1 - b2)
        denom = (v.sqrt() / math.sqrt(bias2)).add_(EPS)
        p.sub_((lr / bias1) * m / denom)
