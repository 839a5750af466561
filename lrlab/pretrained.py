"""The pretrained digits classifier that the fine-tuning lesson and ps5 start from.

Introduced in the lesson on discriminative fine-tuning. ``load()`` returns an ``lrlab.models``
MLP with the weights shipped in ``lrlab/assets/digits_mlp.pt``: trained on the whole training
part of ``data.digits(seed=SPLIT_SEED)`` (clean digits, all ten classes), so its validation part
was never seen. ``load(new_head=True)`` keeps the pretrained body and puts a fresh, seeded head on
it: the usual start of fine-tuning.

``fine_tuning_data()`` is the new task: a few labelled samples per class of a *changed* input
(by default inverted images, dark digits on a light page), validated on the same held-out images,
changed the same way.

``fine_tune`` runs one fine-tuning configuration and ``gradual_unfreezing`` ULMFiT's schedule,
so that the lesson compares settings over several seeds in a line each.

Regenerate the checkpoint (same recipe, same seed, same weights)::

    python -m lrlab.pretrained            # writes lrlab/assets/digits_mlp.pt
    python -m lrlab.pretrained --check    # retrains and compares with the shipped file
"""
from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import torch

from . import data
from .models import MLP, mlp, perturbed

NAME = "digits_mlp"
ASSETS = Path(__file__).resolve().parent / "assets"
HIDDEN = (128, 128)
SPLIT_SEED = 0          # the digits split the body was pretrained on; fine-tune on the same
RECIPE = {"optimizer": "Adam", "lr": 1e-3, "epochs": 30, "batch_size": 64, "init_seed": 0,
          "train_seed": 0}
KINDS = ("inverted", "clean", "shifted")


def path(name: str = NAME) -> Path:
    """Where the checkpoint ``name`` lives: ``lrlab/assets/<name>.pt``."""
    return ASSETS / f"{name}.pt"


def pretrain():
    """Train the model from scratch with ``RECIPE``; returns ``(model, history)``. CPU, ~1 s."""
    from .train import train  # here, so that importing this module stays light

    split = data.digits(seed=SPLIT_SEED)
    model = mlp(HIDDEN, n_classes=split.n_classes, seed=RECIPE["init_seed"], perturb=0)  # exact, always
    opt = torch.optim.Adam(model.parameters(), lr=RECIPE["lr"])
    with torch.random.fork_rng(devices=[]):
        hist = train(model, opt, split, epochs=RECIPE["epochs"], batch_size=RECIPE["batch_size"],
                     seed=RECIPE["train_seed"], device="cpu", label="pretraining")
    return model.eval(), hist


def _payload(model: MLP, hist) -> dict:
    return {"state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
            "hidden": list(HIDDEN), "n_classes": 10, "split_seed": SPLIT_SEED, "recipe": dict(RECIPE),
            "val_loss": round(hist.val_loss[-1], 4), "val_acc": round(hist.val_acc[-1], 4)}


def save(model: MLP, hist, target: Path | None = None) -> Path:
    """Write the checkpoint: the weights, how they were made, and their validation score."""
    target = Path(target) if target is not None else path()
    buffer = io.BytesIO()
    torch.save(_payload(model, hist), buffer)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(buffer.getvalue())
    return target


def info(name: str = NAME) -> dict:
    """The checkpoint's metadata (recipe, validation loss and accuracy), weights left out."""
    payload = torch.load(path(name), map_location="cpu", weights_only=True)
    return {k: v for k, v in payload.items() if k != "state_dict"}


def load(name: str = NAME, *, new_head: bool = False, n_classes: int = 10, seed: int = 0) -> MLP:
    """The pretrained model, weights from ``lrlab/assets/<name>.pt``.

    ``new_head=True`` (or an ``n_classes`` other than 10) replaces the head by a freshly
    initialised ``nn.Linear`` drawn with ``seed``; the body keeps its pretrained weights.
    Under ``LRLAB_PERTURB`` the loaded weights are perturbed like any initial weights
    (``lrlab.models.perturbed``); the file itself is never changed.
    """
    file = path(name)
    if not file.exists():
        raise FileNotFoundError(f"no checkpoint at {file}; run `python -m lrlab.pretrained` to make it")
    payload = torch.load(file, map_location="cpu", weights_only=True)
    model = mlp(tuple(payload["hidden"]), n_classes=payload["n_classes"], seed=0, perturb=0)
    model.load_state_dict(payload["state_dict"])
    perturbed(model)
    if new_head or n_classes != payload["n_classes"]:
        fresh = mlp(tuple(payload["hidden"]), n_classes=n_classes, seed=seed)
        model.head = fresh.head
    return model.train()


def fine_tuning_data(per_class: int = 10, *, seed: int = 0, kind: str = "inverted") -> data.Split:
    """The fine-tuning task: ``per_class`` training samples of each digit (drawn with ``seed``)
    from the same split the body was pretrained on, and its whole held-out validation part.

    ``kind``: ``"inverted"`` (1 - x: the features need adapting), ``"clean"`` (the pretraining
    inputs themselves: the features fit as they are) or ``"shifted"`` (moved one pixel right and
    down: to an MLP, new inputs the features do not fit).
    """
    split = data.digits(seed=SPLIT_SEED)
    if kind == "inverted":
        split = data.inverted(split)
    elif kind == "shifted":
        split = data.shifted(split, 1, 1)
    elif kind != "clean":
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    return data.few_shot(split, per_class, seed=seed)


# -- fine-tuning runs (the lesson's comparisons, one line each) -----------------------------

def fine_tune(make_groups, *, seed: int = 0, start: str = "pretrained", freeze_body: bool = False,
              epochs: int = 30, per_class: int = 10, kind: str = "inverted", label: str = ""):
    """One fine-tuning run; returns its ``History``.

    ``make_groups(model)`` returns the parameter groups (e.g. ``lambda m: groups.by_part(m,
    {'body': 1e-3, 'head': 1e-2})``); they are handed to ``torch.optim.Adam``. The model is the
    pretrained body with a new head drawn with ``seed`` (``start="scratch"``: a random body too),
    the body frozen first if ``freeze_body``. Full-batch training on ``fine_tuning_data(per_class,
    seed=seed, kind=kind)``, so ``seed`` changes the head, the training samples and nothing else.
    """
    from .freeze import freeze
    from .train import train

    if start not in ("pretrained", "scratch"):
        raise ValueError(f"start must be 'pretrained' or 'scratch', got {start!r}")
    task = fine_tuning_data(per_class, seed=seed, kind=kind)
    model = load(new_head=True, seed=seed) if start == "pretrained" else mlp(HIDDEN, seed=1000 + seed)
    keep_eval = [freeze(model.body)] if freeze_body else []
    opt = torch.optim.Adam(make_groups(model))
    return train(model, opt, task, epochs=epochs, batch_size=len(task.y_train), seed=seed,
                 device="cpu", keep_eval=keep_eval, label=label)


def gradual_unfreezing(model: MLP, task: data.Split, *, lr: float, epochs_per_stage: int = 10,
                       decay: float = 1 / 2.6, batch_size: int | None = None, seed: int = 0):
    """ULMFiT's gradual unfreezing: train the head alone, then unfreeze one block more per stage,
    top down, each stage with a new Adam optimizer over the unfrozen parts and layer-wise lrs
    (top part ``lr``, each part below ``decay`` times less).

    Returns one ``History`` over all stages; its groups are every part, bottom to top, with lr 0
    recorded while a part is frozen.
    """
    from .freeze import freeze, unfreeze
    from .groups import layerwise_decay
    from .train import History, train

    order = [f"body.{name}" for name, _ in model.body.named_children()] + ["head"]
    freeze(model.body)
    whole = History(group_names=list(order), device="cpu", label="gradual unfreezing")
    for stage in range(1, len(order) + 1):
        active = order[-stage:]
        for part in active[:-1]:
            unfreeze(model.get_submodule(part))
        opt = torch.optim.Adam(layerwise_decay(model, lr, decay=decay, order=active))
        frozen = [model.get_submodule(p) for p in order[:-stage]]
        hist = train(model, opt, task, epochs=epochs_per_stage, device="cpu",
                     batch_size=batch_size or len(task.y_train), seed=seed + stage, keep_eval=frozen)
        pad = len(order) - len(active)
        whole.step_loss += hist.step_loss
        whole.train_loss += hist.train_loss
        whole.val_loss += hist.val_loss
        whole.val_acc += hist.val_acc
        whole.lrs += [[0.0] * pad + row for row in hist.lrs]
        whole.update_ratios += [[0.0] * pad + row for row in hist.update_ratios]
        whole.steps_per_epoch, whole.n_classes = hist.steps_per_epoch, hist.n_classes
        whole.seconds += hist.seconds
    return whole


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lrlab.pretrained", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="retrain and compare with the shipped checkpoint; write nothing")
    parser.add_argument("--out", type=Path, default=None, help="write here instead of lrlab/assets")
    args = parser.parse_args(argv)
    model, hist = pretrain()
    print(hist.summary())
    if args.check:
        shipped = torch.load(path(), map_location="cpu", weights_only=True)["state_dict"]
        worst = max((model.state_dict()[k] - v).abs().max().item() for k, v in shipped.items())
        print(f"largest weight difference from the shipped checkpoint: {worst:.2e}")
        return 0 if worst < 1e-4 else 1
    target = save(model, hist, args.out)
    print(f"wrote {target} ({target.stat().st_size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
