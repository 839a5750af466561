"""The pretrained digits ViT, its fine-tuning tasks, and the recipes the transformer lesson compares.

Introduced in the lesson on fine-tuning transformers. ``load()`` returns an ``lrlab.vit`` ViT
with the weights shipped in ``lrlab/assets/digits_vit.pt``: trained on the training part of
``data.digits(seed=SPLIT_SEED)``, the split the MLP of ``lrlab.pretrained`` was trained on, so
the fine-tuning tasks are that module's (``fine_tuning_data``): ``"clean"`` digits the ViT never
saw (the features fit; the default) and ``"inverted"`` images (the features must change), a few
labelled samples of each class. ``load(new_head=True, seed=s)`` puts a fresh seeded head on the
pretrained body; ``start(seed, lora=...)`` adds LoRA adapters to a frozen one.

Recipes, as the parameter groups a practitioner writes: ``llrd`` (layer-wise lr decay, layers
numbered by ``lrlab.vit.layer_id``), ``decays`` (which tensors take weight decay: not biases,
norms, the position embedding or the class token) and ``lora_plus`` (LoRA's ``lora_B`` at
``ratio`` times ``lora_A``'s lr). ``fine_tune`` runs one recipe with ``torch.optim.AdamW``;
``fine_tune_many`` runs many (recipe, seed) pairs at once, batched with ``torch.func.vmap``,
each equal to its ``fine_tune`` run up to float rounding (``tests/test_vit.py``).

Regenerate the checkpoint (same recipe, same seed, one CPU thread: the same bytes)::

    python -m lrlab.pretrained_vit            # writes lrlab/assets/digits_vit.pt
    python -m lrlab.pretrained_vit --check    # retrains and compares with the shipped file
"""
from __future__ import annotations

import copy
import functools
import hashlib
import io
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, vmap

from . import data
from .models import perturbed
from .vit import ViT, add_lora, layer_id, vit

NAME = "digits_vit"
ASSETS = Path(__file__).resolve().parent / "assets"
ARCH = {"width": 32, "depth": 4, "heads": 4, "mlp_ratio": 2}
SPLIT_SEED = 0
KIND, PER_CLASS, EPOCHS = "clean", 3, 30   # the default fine-tuning task and run (the measured one)
RECIPE = {"optimizer": "AdamW", "lr": 3e-3, "weight_decay": 0.05, "epochs": 30, "batch_size": 64,
          "init_seed": 0, "train_seed": 0}
# The shipped file's SHA-256. Regenerating it on one CPU thread gives these bytes on the CPU it
# was made on; another CPU may round differently (``--check`` says which).
SHA256 = "89e64be2012ded03df387af7edbeba5adc1f66b4e7efac6c920a90662717d32c"


def path(name: str = NAME) -> Path:
    """Where the checkpoint ``name`` lives: ``lrlab/assets/<name>.pt``."""
    return ASSETS / f"{name}.pt"


def pretrain():
    """Train the ViT from scratch with ``RECIPE`` on one CPU thread; returns ``(model, history)``."""
    from .train import cpu_threads, train

    split = data.digits(seed=SPLIT_SEED)
    model = vit(**ARCH, n_classes=split.n_classes, seed=RECIPE["init_seed"])
    opt = torch.optim.AdamW(model.parameters(), lr=RECIPE["lr"], weight_decay=RECIPE["weight_decay"])
    with torch.random.fork_rng(devices=[]), cpu_threads(1, "cpu"):
        hist = train(model, opt, split, epochs=RECIPE["epochs"], batch_size=RECIPE["batch_size"],
                     seed=RECIPE["train_seed"], device="cpu", label="pretraining the ViT")
    return model.eval(), hist


def checkpoint_bytes(model: ViT, hist) -> bytes:
    """The checkpoint file's bytes: the weights, how they were made, and their validation score."""
    payload = {"state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
               "arch": dict(ARCH), "n_classes": 10,
               "split_seed": SPLIT_SEED, "recipe": dict(RECIPE),
               "val_loss": round(hist.val_loss[-1], 4), "val_acc": round(hist.val_acc[-1], 4)}
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def info(name: str = NAME) -> dict:
    """The checkpoint's metadata (architecture, recipe, validation loss and accuracy)."""
    payload = torch.load(path(name), map_location="cpu", weights_only=True)
    return {k: v for k, v in payload.items() if k != "state_dict"}


def load(name: str = NAME, *, new_head: bool = False, n_classes: int | None = None, seed: int = 0) -> ViT:
    """The pretrained ViT from ``lrlab/assets/<name>.pt``. ``new_head=True`` (or an ``n_classes``
    other than the checkpoint's) replaces the head by a fresh ``nn.Linear`` drawn with ``seed``.
    Under ``LRLAB_PERTURB`` the weights (the new head's too) are perturbed like any initial
    weights (``lrlab.models.perturbed``); the file itself is never changed."""
    file = path(name)
    if not file.exists():
        raise FileNotFoundError(f"no checkpoint at {file}; run `python -m lrlab.pretrained_vit` to make it")
    stat = file.stat()
    model = copy.deepcopy(_read(file, stat.st_mtime_ns, stat.st_size))
    n_classes = model.head.out_features if n_classes is None else n_classes
    if new_head or n_classes != model.head.out_features:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model.head = nn.Linear(model.head.in_features, n_classes)
    return perturbed(model).train()


@functools.lru_cache(maxsize=4)
def _read(file: Path, mtime_ns: int, size: int) -> ViT:
    """The checkpoint's model, read once per version of the file (``load`` copies it)."""
    payload = torch.load(file, map_location="cpu", weights_only=True)
    model = vit(**payload["arch"], n_classes=payload["n_classes"], seed=0)
    model.load_state_dict(payload["state_dict"])
    return model


def fine_tuning_data(per_class: int = PER_CLASS, *, seed: int = 0, kind: str = KIND) -> data.Split:
    """The fine-tuning tasks of the MLP's lesson (``lrlab.pretrained.fine_tuning_data``, the same
    split): ``"clean"`` digits the ViT never saw, ``"inverted"`` or ``"shifted"`` images."""
    from .pretrained import fine_tuning_data as tasks

    return tasks(per_class, seed=seed, kind=kind)


def start(seed: int, lora: dict | None = None) -> ViT:
    """A fine-tuning start: the pretrained body, a new head drawn with ``seed``;
    with ``lora`` (``add_lora``'s options, e.g. ``{"rank": 4}``) the body frozen under LoRA
    adapters (their ``lora_A`` drawn with ``seed``) and the head left trainable."""
    model = load(new_head=True, seed=seed)
    if lora is not None:
        add_lora(model, **{"seed": seed, **lora})
        model.head.requires_grad_(True)
    return model


# -- recipes: the parameter groups ----------------------------------------------------------

def decays(name: str, param: torch.Tensor) -> bool:
    """Whether a tensor takes weight decay: matrices do; biases, norm scales (1-D), the class
    token and the position embedding do not, as timm's ViT lists them (``no_weight_decay``).
    nanoGPT's rule (``dim() >= 2``) and Hugging Face's (names without bias or norm) would decay
    ``embed.pos`` and ``embed.cls``."""
    return param.ndim >= 2 and not name.startswith(("embed.pos", "embed.cls"))


def llrd(model: ViT, lr: float, decay: float, *, weight_decay: float = 0.0, exclude: bool = True) -> list[dict]:
    """Layer-wise lr decay: the head and final norm at ``lr``, block i at ``lr * decay**(L - i)``,
    the embeddings at ``lr * decay**(L + 1)``; trainable tensors only. Each layer splits into a
    decayed group and (``exclude``) a group with no weight decay (``decays``)."""
    if not 0 < decay <= 1:
        raise ValueError(f"decay must be in (0, 1], got {decay}")
    depth, groups = len(model.blocks), {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        layer = layer_id(name, depth)
        wd = weight_decay if (decays(name, p) or not exclude) else 0.0
        key = (layer, wd)
        if key not in groups:
            groups[key] = {"params": [], "lr": lr * decay ** (depth + 1 - layer), "weight_decay": wd,
                           "name": f"layer {layer}" + ("" if wd else " (no decay)")}
        groups[key]["params"].append(p)
    return [groups[k] for k in sorted(groups)]


def lora_plus(model: ViT, lr: float, ratio: float = 16.0, *, head_lr: float | None = None) -> list[dict]:
    """LoRA+ groups: every ``lora_A`` at ``lr``, every ``lora_B`` at ``ratio * lr``, the other
    trainable tensors (the new head) at ``head_lr`` (default ``lr``). ``ratio=1`` is plain LoRA."""
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    pick = lambda test: [p for n, p in named if test(n)]  # noqa: E731
    groups = [{"params": pick(lambda n: n.endswith("lora_A")), "lr": lr, "name": "lora_A"},
              {"params": pick(lambda n: n.endswith("lora_B")), "lr": lr * ratio, "name": "lora_B"},
              {"params": pick(lambda n: not n.endswith(("lora_A", "lora_B"))),
               "lr": lr if head_lr is None else head_lr, "name": "rest"}]
    return [g for g in groups if g["params"]]


# -- fine-tuning runs -----------------------------------------------------------------------

def fine_tune(make_groups: Callable[[ViT], list[dict]], *, seed: int = 0, lora: dict | None = None,
              epochs: int = EPOCHS, per_class: int = PER_CLASS, kind: str = KIND, label: str = ""):
    """One fine-tuning run on ``fine_tuning_data(per_class, seed=seed, kind=kind)``, full batch, with
    ``torch.optim.AdamW(make_groups(model))`` (a group without ``weight_decay`` gets AdamW's
    default, 0.01); returns its ``History``. The model is ``start(seed, lora)``; tensors in no
    group stay where they are."""
    from .train import cpu_threads, train

    task, model = fine_tuning_data(per_class, seed=seed, kind=kind), start(seed, lora)
    opt = torch.optim.AdamW(make_groups(model))
    with cpu_threads(1, "cpu"):
        return train(model, opt, task, epochs=epochs, batch_size=len(task.y_train), seed=seed,
                     device="cpu", label=label)


@dataclass
class Many:
    """What ``fine_tune_many`` measured, one row per configuration: ``train_loss`` (configs,
    epochs), final validation ``val_loss`` and ``val_acc`` (configs,), ``nan`` where a run blew up."""

    train_loss: torch.Tensor
    val_loss: torch.Tensor
    val_acc: torch.Tensor
    seconds: float


def fine_tune_many(configs: Sequence[tuple[Callable[[ViT], list[dict]], int]], *, lora: dict | None = None,
                   epochs: int = EPOCHS, per_class: int = PER_CLASS, kind: str = KIND, chunk: int = 16) -> Many:
    """Many ``fine_tune`` runs at once: each ``(make_groups, seed)`` of ``configs`` as one slice of
    a batched model (``torch.func.vmap`` of ``functional_call``), trained with AdamW written out
    with each configuration's lr and weight decay per tensor, read from the optimizer
    ``torch.optim.AdamW(make_groups(model))`` would be. ``chunk`` configurations train together."""
    from .train import cpu_threads

    if not configs:
        raise ValueError("configs is empty: give at least one (make_groups, seed) pair")
    begin = time.perf_counter()
    parts = []
    with cpu_threads(1, "cpu"), torch.no_grad():
        for i in range(0, len(configs), chunk):
            parts.append(_Batch(configs[i:i + chunk], lora, fine_tuning_data, per_class, kind).run(epochs))
    cat = lambda k: torch.cat([p[k] for p in parts])  # noqa: E731
    return Many(cat(0), cat(1), cat(2), time.perf_counter() - begin)


class _Batch:
    """Configurations stacked along a leading dimension of every tensor."""

    def __init__(self, configs, lora, task, per_class, kind):
        models, settings = [], []
        for make_groups, seed in configs:
            model = start(int(seed), lora)
            opt = torch.optim.AdamW(make_groups(model))
            of = {id(p): g for g in opt.param_groups for p in g["params"]}
            models.append(model)
            settings.append([(of[id(p)]["lr"], of[id(p)]["weight_decay"], of[id(p)]["betas"], of[id(p)]["eps"])
                             if id(p) in of and p.requires_grad else None for p in model.parameters()])
            if not of:
                raise ValueError("make_groups returned no parameters to train")
        self.base, self.names = models[0], [n for n, _ in models[0].named_parameters()]
        trained = [i for i in range(len(self.names)) if any(s[i] is not None for s in settings)]
        betas = {s[i][2:] for s in settings for i in trained if s[i] is not None}
        if len(betas) != 1:
            raise ValueError("every group must use the same betas and eps here")
        (self.betas, self.eps), = betas
        self.trained = trained
        self.params, self.dims = [], []      # a frozen tensor the same in every model is kept once
        for i, n in enumerate(self.names):
            copies = [m.get_parameter(n).detach() for m in models]
            shared = i not in trained and all(torch.equal(c, copies[0]) for c in copies[1:])
            self.params.append(copies[0] if shared else torch.stack(copies))
            self.dims.append(None if shared else 0)
        col = lambda i, k: torch.tensor([s[i][k] if s[i] is not None else 0.0 for s in settings])  # noqa: E731
        shape = lambda i: (-1, *[1] * (self.params[i].dim() - 1))  # noqa: E731
        self.lr = {i: col(i, 0).view(shape(i)) for i in trained}
        self.wd = {i: col(i, 1).view(shape(i)) for i in trained}
        tasks = [task(per_class, seed=int(seed), kind=kind) for _, seed in configs]
        self.x = torch.stack([t.x_train for t in tasks])
        self.y = torch.stack([t.y_train for t in tasks])
        self.x_val, self.y_val = tasks[0].x_val, tasks[0].y_val

    def _logits(self, params, x):
        call = lambda w, inputs: functional_call(self.base, dict(zip(self.names, w)), (inputs,))  # noqa: E731
        return vmap(call, in_dims=(self.dims, None if x.dim() == 2 else 0))(params, x)

    def run(self, epochs: int):
        n_cfg = len(self.x)
        m = {i: torch.zeros_like(self.params[i]) for i in self.trained}
        v = {i: torch.zeros_like(self.params[i]) for i in self.trained}
        (b1, b2), losses = self.betas, torch.empty(n_cfg, epochs)
        for t in range(1, epochs + 1):
            leaves = [p.requires_grad_(i in m) for i, p in enumerate(self.params)]
            with torch.enable_grad():
                logits = self._logits(leaves, self.x)
                loss = F.cross_entropy(logits.flatten(0, 1), self.y.flatten(), reduction="none")
                loss = loss.view(n_cfg, -1).mean(1)
                grads = torch.autograd.grad(loss.sum(), [leaves[i] for i in self.trained])
            self.params = [p.detach() for p in leaves]
            losses[:, t - 1] = loss.detach()
            for i, g in zip(self.trained, grads):      # torch.optim.AdamW's update, written out
                p = self.params[i]
                p.mul_(1 - self.lr[i] * self.wd[i])
                m[i].lerp_(g, 1 - b1)
                v[i].mul_(b2).addcmul_(g, g, value=1 - b2)
                denom = (v[i].sqrt() / math.sqrt(1 - b2 ** t)).add_(self.eps)
                p.sub_(self.lr[i] / (1 - b1 ** t) * m[i] / denom)
        logits = self._logits(self.params, self.x_val)
        val = F.cross_entropy(logits.flatten(0, 1), self.y_val.repeat(n_cfg), reduction="none").view(n_cfg, -1)
        acc = (logits.argmax(-1) == self.y_val).float().mean(1)
        blew = ~torch.isfinite(val.mean(1)) | ~torch.isfinite(losses).all(1)
        return losses, torch.where(blew, torch.nan, val.mean(1)), torch.where(blew, torch.nan, acc)


def sha256(file: Path | None = None) -> str:
    """The SHA-256 of a checkpoint file (default: the shipped one)."""
    return hashlib.sha256(Path(file or path()).read_bytes()).hexdigest()


def main(argv=None) -> int:
    from .pretrained import command_line

    def compare(model: ViT, hist) -> tuple[bool, str]:      # the same bytes, or how far apart
        if checkpoint_bytes(model, hist) == path().read_bytes():
            return True, "the same bytes as the shipped checkpoint"
        worst = max((model.state_dict()[k] - v).abs().max().item() for k, v in load().state_dict().items())
        return False, (f"DIFFERENT bytes from the shipped checkpoint; largest weight difference {worst:.2e} "
                       f"(val loss {hist.val_loss[-1]:.3f}, shipped {info()['val_loss']:.3f}): another kind of "
                       "CPU rounds differently, and training carries it into the weights")

    def write(model: ViT, hist, target: Path | None) -> str:
        blob, target = checkpoint_bytes(model, hist), target or path()
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(blob)
        return f"wrote {target} ({len(blob) / 1024:.0f} KiB, sha256 {hashlib.sha256(blob).hexdigest()})"

    return command_line(argv, prog="python -m lrlab.pretrained_vit", about=__doc__.split("\n")[0],
                        pretrain=pretrain, compare=compare, write=write)


if __name__ == "__main__":
    sys.exit(main())
