"""The pretrained digits classifier that the fine-tuning lesson and ps5 start from.

Introduced in the lesson on discriminative fine-tuning. ``load()`` returns an ``lrlab.models``
MLP with the weights shipped in ``lrlab/assets/digits_mlp.pt``: trained on the whole training
part of ``data.digits(seed=SPLIT_SEED)`` (clean digits, all ten classes), so its validation part
was never seen. ``load(new_head=True)`` keeps the pretrained body and puts a fresh, seeded head on
it: the usual start of fine-tuning.

``fine_tuning_data()`` is the new task: a few labelled samples per class of a *changed* input
(by default inverted images, dark digits on a light page), validated on the same held-out images,
changed the same way; ``kind="clean"`` is unchanged digits the body never saw.

``fine_tune`` runs one fine-tuning configuration and ``gradual_unfreezing`` ULMFiT's schedule;
``search`` runs whole families of recipes over candidate lrs and seeds at once (batched, through
``lrlab.sweep``), so that the lesson compares each recipe at its best lr, over many seeds.

Regenerate the checkpoint (same recipe, same seed, same weights)::

    python -m lrlab.pretrained            # writes lrlab/assets/digits_mlp.pt
    python -m lrlab.pretrained --check    # retrains and compares with the shipped file
"""
from __future__ import annotations

import argparse
import io
import math
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import data
from .models import MLP, mlp, perturbed

NAME = "digits_mlp"
ASSETS = Path(__file__).resolve().parent / "assets"
HIDDEN = (128, 128)
SPLIT_SEED = 0          # the digits split the body was pretrained on (its training part)
RECIPE = {"optimizer": "Adam", "lr": 1e-3, "epochs": 30, "batch_size": 64, "init_seed": 0,
          "train_seed": 0}
KINDS = ("inverted", "clean", "shifted")
PARTS = ("body.block1", "body.block2", "head")   # the model's parts, bottom to top


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


def unseen() -> data.Split:
    """Clean digits the pretrained body never saw: the held-out part of its split, halved. The
    first half is the pool training samples are drawn from, the second half validates."""
    split = data.digits(seed=SPLIT_SEED)
    half = len(split.y_val) // 2
    return data.Split(split.x_val[:half], split.y_val[:half], split.x_val[half:], split.y_val[half:],
                      split.classes, "digits the body never saw")


def fine_tuning_data(per_class: int = 10, *, seed: int = 0, kind: str = "inverted") -> data.Split:
    """The fine-tuning task: ``per_class`` training samples of each digit, drawn with ``seed``,
    and a whole validation set the body was never trained on.

    ``kind``: ``"inverted"`` (1 - x of the pretraining split's images: the features need
    adapting; validated on its held-out part, inverted), ``"shifted"`` (the same images moved one
    pixel right and down: to an MLP, new inputs the features do not fit) or ``"clean"`` (unchanged
    digits the body never saw, from ``unseen()``: the features fit as they are). Inverted and
    shifted images are new inputs even where the digit was seen; clean ones must be new digits,
    or fine-tuning would only recall what pretraining already fitted.
    """
    if kind == "clean":
        return data.few_shot(unseen(), per_class, seed=seed)
    split = data.digits(seed=SPLIT_SEED)
    if kind == "inverted":
        split = data.inverted(split)
    elif kind == "shifted":
        split = data.shifted(split, 1, 1)
    else:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    return data.few_shot(split, per_class, seed=seed)


# -- fine-tuning runs (the lesson's comparisons, one line each) -----------------------------

def fine_tune(make_groups, *, seed: int = 0, start: str = "pretrained", freeze_body: bool = False,
              epochs: int = 30, per_class: int = 10, kind: str = "inverted", label: str = ""):
    """One fine-tuning run; returns its ``History``.

    ``make_groups(model)`` returns the parameter groups (e.g. ``lambda m: groups.by_part(m,
    {'body': 1e-3, 'head': 1e-2})``); they are handed to ``torch.optim.Adam``. ``make_groups``
    may also be that dict itself, ``{part: lr}``: then ``by_part`` builds the groups, and every
    part of ``PARTS`` it leaves out is frozen first (``{'head': 1e-2}``: the body frozen), as
    ``search`` does. The model is the pretrained body with a new head drawn with ``seed``
    (``start="scratch"``: a random body too), the body frozen first if ``freeze_body``.
    Full-batch training on ``fine_tuning_data(per_class, seed=seed, kind=kind)``, so ``seed``
    changes the head, the training samples and nothing else.
    """
    from .freeze import freeze
    from .groups import by_part
    from .train import train

    if start not in ("pretrained", "scratch"):
        raise ValueError(f"start must be 'pretrained' or 'scratch', got {start!r}")
    task = fine_tuning_data(per_class, seed=seed, kind=kind)
    model = load(new_head=True, seed=seed) if start == "pretrained" else mlp(HIDDEN, seed=1000 + seed)
    keep_eval = [freeze(model.body)] if freeze_body else []
    if isinstance(make_groups, Mapping):
        lrs = dict(make_groups)
        keep_eval += [freeze(model.get_submodule(p)) for p in part_lrs(lrs) if not _named(p, lrs)]
        make_groups = lambda m: by_part(m, lrs)  # noqa: E731
    opt = torch.optim.Adam(make_groups(model))
    return train(model, opt, task, epochs=epochs, batch_size=len(task.y_train), seed=seed,
                 device="cpu", keep_eval=keep_eval, label=label)


def gradual_unfreezing(model: MLP, task: data.Split, *, lr: float, epochs_per_stage: int = 10,
                       decay: float = 1 / 2.6, batch_size: int | None = None, seed: int = 0,
                       scheduler: Callable | None = None):
    """ULMFiT's gradual unfreezing: train the head alone, then unfreeze one block more per stage,
    top down, each stage with a new Adam optimizer over the unfrozen parts and layer-wise lrs
    (top part ``lr``, each part below ``decay`` times less).

    Each stage builds its optimizer whole; none calls ``add_param_group``. That keeps it safe
    with a scheduler: a scheduler holds one base lr (and, for ``LambdaLR``, one lambda) per group,
    fixed when it is built, so a group added later makes ``LambdaLR``'s next ``step()`` raise
    (lesson on freezing). ``scheduler(optimizer, stage)``, if given, builds the scheduler of each
    stage's optimizer (stage 1 is the head alone); it is stepped once per epoch.

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
                     batch_size=batch_size or len(task.y_train), seed=seed + stage, keep_eval=frozen,
                     scheduler=scheduler(opt, stage) if scheduler is not None else None)
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


# -- many recipes, lrs and seeds at once (batched) ----------------------------------------

@dataclass
class Search:
    """What ``search`` measured: each recipe's final validation loss at each of its lrs on each
    seed, and how far each part travelled.

    ``lrs[name]``: the head lrs recipe ``name`` was run with. ``final[name]``: shape (its lrs,
    seeds), ``inf`` for a run that blew up. ``travel[name]``: shape (its lrs, seeds, parts), each
    part's update-to-weight ratios (as ``lrlab.train`` records them) summed over the run: how far
    it moved, relative to its size. ``parts`` is ``PARTS``.
    """

    lrs: dict[str, list[float]]
    seeds: list[int]
    parts: list[str]
    final: dict[str, np.ndarray]
    travel: dict[str, np.ndarray]

    def _columns(self, seeds) -> list[int]:
        if seeds is None:
            return list(range(len(self.seeds)))
        seeds = list(seeds)
        missing = [s for s in seeds if s not in self.seeds]
        if missing:
            raise ValueError(f"seeds {missing} were not run; this search ran {self.seeds}")
        return [self.seeds.index(s) for s in seeds]

    def _row(self, name: str, lr: float) -> int:
        rows = [i for i, c in enumerate(self.lrs[name]) if math.isclose(c, lr, rel_tol=1e-9)]
        if not rows:
            raise ValueError(f"{name!r} was not run at lr {lr:g}; it was run at {self.lrs[name]}")
        return rows[0]

    def at(self, name: str, lr: float, seeds: Iterable[int] | None = None) -> np.ndarray:
        """Final validation losses of recipe ``name`` with the head at ``lr``, one per seed
        (``seeds``: some of those run, in that order; default all)."""
        return self.final[name][self._row(name, lr), self._columns(seeds)]

    def travelled(self, name: str, lr: float, seeds: Iterable[int] | None = None) -> np.ndarray:
        """How far each part moved in recipe ``name``'s runs at head lr ``lr``: the update-to-weight
        ratios summed over the run, shape (seeds, parts)."""
        return self.travel[name][self._row(name, lr)][self._columns(seeds)]

    def best(self, name: str, seeds: Iterable[int] | None = None) -> float:
        """The lr whose mean final validation loss over ``seeds`` is lowest for recipe ``name``
        (a run that blew up counts as ``inf``: its lr is chosen only if every lr blew up once)."""
        means = self.final[name][:, self._columns(seeds)].mean(axis=1)
        return self.lrs[name][int(np.argmin(means))]


def _named(part: str, names: Iterable[str]) -> list[str]:
    """The names that cover ``part``: itself, or a module above it (``"body"`` covers
    ``"body.block1"``)."""
    return [k for k in names if part == k or part.startswith(k + ".")]


def part_lrs(lrs: Mapping[str, float]) -> dict[str, float]:
    """``{part: lr}`` as ``lrlab.groups.by_part`` takes it, spelt out for each of ``PARTS``:
    ``{"body": 1e-3, "head": 1e-2}`` gives both body blocks 1e-3; the most specific name wins; a
    part no name covers gets lr 0 (frozen)."""
    unknown = [k for k in lrs if not any(_named(p, [k]) for p in PARTS)]
    if unknown:
        raise ValueError(f"no part named {unknown[0]!r}; the parts are {', '.join(PARTS)} (or 'body')")
    spelt = {}
    for part in PARTS:
        owners = _named(part, lrs)
        spelt[part] = float(lrs[max(owners, key=len)]) if owners else 0.0
    return spelt


def search(recipes: Mapping[str, Callable[[float], Mapping[str, float]]],
           lrs: Iterable[float] | Mapping[str, float | Iterable[float]], seeds: Iterable[int], *,
           scratch: Iterable[str] = (), kind: str = "inverted", epochs: int = 40,
           per_class: int = 10) -> Search:
    """Every recipe at each of its head lrs on every seed: the runs ``fine_tune`` makes, batched.

    ``recipes[name](lr)`` gives each part's lr when the head's is ``lr``, as ``by_part`` takes it
    (``lambda lr: {"body": lr / 10, "head": lr}``); a part it leaves out is frozen (trained at lr
    0: its weights never move, as with ``fine_tune(..., freeze_body=True)``). ``lrs``: the
    candidate head lrs, the same for every recipe, or ``{name: lr or lrs}`` for each its own (e.g.
    each recipe at the lr an earlier search chose). Recipes named in ``scratch`` start from a
    random body (``start="scratch"``). Every run: Adam, full batch, ``epochs`` epochs on
    ``fine_tuning_data(per_class, seed=seed, kind=kind)``, the head drawn with ``seed``. All runs
    of one seed train together as one batched model (``lrlab.sweep.train_runs``); each equals its
    ``fine_tune`` run up to float rounding (``tests/test_pretrained.py``).
    """
    from .sweep import train_runs

    if isinstance(lrs, Mapping):
        if set(lrs) != set(recipes):
            raise ValueError(f"lrs names {sorted(lrs)}; the recipes are {sorted(recipes)}")
        each = {n: [float(v)] if isinstance(v, (int, float)) else [float(x) for x in v]
                for n, v in lrs.items()}
    else:
        shared = [float(v) for v in lrs]
        each = {n: list(shared) for n in recipes}
    seeds, scratch = [int(s) for s in seeds], set(scratch)
    if not recipes or not seeds or not all(each.values()):
        raise ValueError("search needs at least one recipe, one lr for each and one seed")
    if scratch - set(recipes):
        raise ValueError(f"scratch names {sorted(scratch - set(recipes))}, which are not recipes")
    starts = {"pretrained": [n for n in recipes if n not in scratch],
              "scratch": [n for n in recipes if n in scratch]}
    makers = {"pretrained": lambda s: load(new_head=True, seed=s),
              "scratch": lambda s: mlp(HIDDEN, seed=1000 + s)}
    final = {n: np.empty((len(each[n]), len(seeds))) for n in recipes}
    travel = {n: np.empty((len(each[n]), len(seeds), len(PARTS))) for n in recipes}
    for j, seed in enumerate(seeds):
        task = fine_tuning_data(per_class, seed=seed, kind=kind)
        for start, names in starts.items():
            if not names:
                continue
            rows = [(n, i) for n in names for i in range(len(each[n]))]
            configs = [(part_lrs(recipes[n](each[n][i])), seed) for n, i in rows]
            runs = train_runs(makers[start], task, configs, optimizer="Adam", epochs=epochs,
                              batch_size=len(task.y_train))
            losses = torch.nan_to_num(runs.final, nan=math.inf).numpy()
            moved = runs.update_ratios.nan_to_num(0.0).sum(1).numpy()
            for k, (n, i) in enumerate(rows):
                final[n][i, j] = losses[k]
                travel[n][i, j] = moved[k]
    return Search(each, seeds, list(PARTS), final, travel)


def command_line(argv, *, prog: str, about: str, pretrain: Callable, compare: Callable,
                 write: Callable) -> int:
    """The command line of a shipped checkpoint (``python -m lrlab.pretrained``, ``lrlab.pretrained_vit``):
    retrain with ``pretrain()`` -> ``(model, history)`` and print its summary; with ``--check``
    print what ``compare(model, history)`` -> ``(same, line)`` says and exit 1 unless the same;
    else ``write(model, history, target)`` (``--out``, or None for lrlab/assets) -> the line to print."""
    parser = argparse.ArgumentParser(prog=prog, description=about)
    parser.add_argument("--check", action="store_true",
                        help="retrain and compare with the shipped checkpoint; write nothing")
    parser.add_argument("--out", type=Path, default=None, help="write here instead of lrlab/assets")
    args = parser.parse_args(argv)
    model, hist = pretrain()
    print(hist.summary())
    if args.check:
        same, line = compare(model, hist)
        print(line)
        return 0 if same else 1
    print(write(model, hist, args.out))
    return 0


def _compare(model: MLP, _hist) -> tuple[bool, str]:
    """The retrained weights against the shipped ones (within 1e-4: another BLAS rounds apart)."""
    shipped = torch.load(path(), map_location="cpu", weights_only=True)["state_dict"]
    worst = max((model.state_dict()[k] - v).abs().max().item() for k, v in shipped.items())
    return worst < 1e-4, f"largest weight difference from the shipped checkpoint: {worst:.2e}"


def _write(model: MLP, hist, target: Path | None) -> str:
    target = save(model, hist, target)
    return f"wrote {target} ({target.stat().st_size / 1024:.0f} KiB)"


def main(argv=None) -> int:
    return command_line(argv, prog="python -m lrlab.pretrained", about=__doc__.split("\n")[0],
                        pretrain=pretrain, compare=_compare, write=_write)


if __name__ == "__main__":
    sys.exit(main())
