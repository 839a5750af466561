"""A fine-tuning recipe, ``build(model) -> (optimizer, scheduler)``, run as the capstone grades it,
written down as plain data, and replayed from that data alone.

Introduced in the capstone exercise (ps5). ``run(build, seed)`` fine-tunes the pretrained model
with a new head drawn with ``seed`` (``pretrained.load(new_head=True, seed=seed)``) on
``pretrained.fine_tuning_data(10, seed=seed)``: full batch, ``EPOCHS`` epochs, through
``lrlab.train.train``, the scheduler stepped once per epoch (a ``ReduceLROnPlateau`` with the
epoch's validation loss). It returns the ``History`` and the *recipe*: the optimizer's class, the
parameters each group trains and the frozen ones (by name), and every group's hyperparameters in
every epoch (what the scheduler made of them).

``replay(recipe, seed)`` builds that optimizer from ``torch.optim`` on a fresh copy of the model
and trains it in the same way, setting each epoch's hyperparameters from the recipe. No code of
the recipe's author runs there, so a grader can trust the result; the author's kernel only
decides the recipe.
"""
from __future__ import annotations

import math

import torch
from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau

from .pretrained import fine_tuning_data, load
from .train import History, cpu_threads, train

EPOCHS = 40          # the capstone's budget of full-batch epochs
PER_CLASS = 10       # labelled training images per class
# constructor flags that choose an implementation, not the arithmetic: the replay uses torch's own
IMPLEMENTATION = frozenset({"foreach", "fused", "capturable", "differentiable"})


def _plain(name: str, value):
    """A hyperparameter as a number, bool, short str, None or list of numbers (betas); else ValueError."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if value is None or type(value) in (bool, int, float) or (type(value) is str and len(value) <= 100):
        return value
    if isinstance(value, (tuple, list)) and len(value) <= 4:
        return [_plain(name, v) for v in value]
    raise ValueError(f"hyperparameter {name!r} is {type(value).__name__}: a recipe's "
                     "hyperparameters must be numbers, bools or tuples of numbers")


def _is_plain(value) -> bool:
    return value is None or type(value) in (bool, int, float, str) or (
        type(value) is list and len(value) <= 4 and all(type(v) in (int, float) for v in value))


def settings(optimizer: torch.optim.Optimizer) -> list[dict]:
    """Each group's hyperparameters (the optimizer's own keys, implementation flags left out)."""
    keys = [k for k in optimizer.defaults if k not in IMPLEMENTATION]
    return [{k: _plain(k, g[k]) for k in keys if k in g} for g in optimizer.param_groups]


def _check_build_result(result, model) -> tuple:
    if not (isinstance(result, tuple) and len(result) == 2):
        raise TypeError(f"build must return a tuple (optimizer, scheduler), got {type(result).__name__}")
    optimizer, scheduler = result
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"build must return a torch.optim optimizer first, got {type(optimizer).__name__}")
    if scheduler is not None and not isinstance(scheduler, (LRScheduler, ReduceLROnPlateau)):
        raise TypeError("build must return a torch.optim.lr_scheduler scheduler or None second, "
                        f"got {type(scheduler).__name__}")
    if scheduler is not None and scheduler.optimizer is not optimizer:
        raise ValueError("the scheduler must schedule the optimizer build returns")
    mine = {id(p) for p in model.parameters()}
    if any(id(p) not in mine for g in optimizer.param_groups for p in g["params"]):
        raise ValueError("the optimizer trains tensors that are not parameters of the model build "
                         "received: build its groups from that model")
    return optimizer, scheduler


def _start(seed: int, per_class: int):
    """The pretrained model with a new head, and the fine-tuning data, of ``seed``."""
    return load(new_head=True, seed=seed), fine_tuning_data(per_class, seed=seed)


def _fine_tune(model, optimizer, data, seed: int, epochs: int, scheduler, on_epoch=None) -> History:
    """Full-batch training on one CPU thread: how a run and its replay both train."""
    with cpu_threads(1, "cpu"):
        return train(model, optimizer, data, epochs=epochs, batch_size=len(data.y_train), seed=seed,
                     device="cpu", scheduler=scheduler, on_epoch=on_epoch, label=f"seed {seed}")


def run(build, seed: int = 0, *, epochs: int = EPOCHS, per_class: int = PER_CLASS) -> tuple[History, dict]:
    """Fine-tune with ``build``'s optimizer and scheduler; ``(history, recipe)``."""
    model, data = _start(seed, per_class)
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    optimizer, scheduler = _check_build_result(build(model), model)
    after = {k: v.detach().cpu() for k, v in model.state_dict().items()}   # build may move it
    changed = sorted(set(before) ^ set(after)
                     | {k for k in before.keys() & after.keys() if not torch.equal(before[k], after[k])})
    names = {id(p): n for n, p in model.named_parameters()}
    recipe = {"optimizer": type(optimizer).__name__,
              "groups": [[names[id(p)] for p in g["params"]] for g in optimizer.param_groups],
              "frozen": [n for n, p in model.named_parameters() if not p.requires_grad],
              "changed": changed, "settings": [settings(optimizer)]}
    plateau = isinstance(scheduler, ReduceLROnPlateau)

    def next_epoch(history):
        if plateau:
            scheduler.step(history.val_loss[-1])
        recipe["settings"].append(settings(optimizer))

    history = _fine_tune(model, optimizer, data, seed, epochs, None if plateau else scheduler, next_epoch)
    recipe["settings"] = recipe["settings"][:history.epochs]
    return history, recipe


class _Replayed:
    """A 'scheduler' that sets each epoch's recorded hyperparameters (the last ones stay)."""

    def __init__(self, optimizer, per_epoch: list[list[dict]]):
        self.optimizer, self.per_epoch, self.epoch = optimizer, per_epoch, 0
        self._apply()

    def _apply(self):
        row = self.per_epoch[min(self.epoch, len(self.per_epoch) - 1)]
        for group, values in zip(self.optimizer.param_groups, row):
            group.update(_arguments(values))

    def step(self):
        self.epoch += 1
        self._apply()


def _arguments(values: dict) -> dict:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}


def _optimizer_class(name):
    cls = getattr(torch.optim, name, None) if isinstance(name, str) else None
    if not (isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer)
            and cls is not torch.optim.Optimizer and cls.__module__.startswith("torch.optim")):
        raise ValueError(f"the optimizer must be one of torch.optim's (Adam, SGD, AdamW, ...), got "
                         f"{name!r}: the grader builds it again from its name and settings")
    return cls


def _checked(recipe, model) -> tuple:
    """The recipe's parts, every type and name checked against ``model``: ValueError if not."""
    if type(recipe) is not dict or not {"optimizer", "groups", "frozen", "changed", "settings"} <= set(recipe):
        raise ValueError("not a recipe (see lrlab.recipe.run)")
    cls = _optimizer_class(recipe["optimizer"])
    params = dict(model.named_parameters())

    def names(value, what):
        if type(value) is not list or any(type(n) is not str for n in value):
            raise ValueError(f"malformed recipe: {what} must be a list of parameter names")
        unknown = [n for n in value if n not in params]
        if unknown:
            raise ValueError(f"{what} names {unknown[0]!r}, which is not a parameter of the model")
        return value

    if names(recipe["changed"], "changed"):
        raise ValueError(f"build changed the model's {', '.join(recipe['changed'])}: build may "
                         "freeze parts, but the grader trains the model as build received it")
    groups = [names(g, "a group") for g in recipe["groups"]] if type(recipe["groups"]) is list else None
    if not groups:
        raise ValueError("malformed recipe: the optimizer has no parameter groups")
    listed = [n for g in groups for n in g]
    if len(listed) != len(set(listed)):
        raise ValueError("a parameter appears twice in the optimizer's groups")
    per_epoch = recipe["settings"]
    if type(per_epoch) is not list or not per_epoch or any(
            type(row) is not list or len(row) != len(groups) or any(
                type(s) is not dict or "params" in s or set(s) & IMPLEMENTATION
                or not all(map(_is_plain, s.values())) for s in row) for row in per_epoch):
        raise ValueError(f"malformed recipe: settings must list, per epoch, each group's {cls.__name__} "
                         "hyperparameters")
    return cls, groups, names(recipe["frozen"], "frozen"), per_epoch


def replay(recipe: dict, seed: int = 0, *, epochs: int = EPOCHS, per_class: int = PER_CLASS) -> History:
    """Train a fresh model with the recipe's optimizer and per-epoch hyperparameters."""
    model, data = _start(seed, per_class)
    cls, groups, frozen, per_epoch = _checked(recipe, model)
    params = dict(model.named_parameters())
    for name in frozen:
        params[name].requires_grad_(False)
    optimizer = cls([{"params": [params[n] for n in g], **_arguments(s)}
                     for g, s in zip(groups, per_epoch[0])])
    return _fine_tune(model, optimizer, data, seed, epochs, _Replayed(optimizer, per_epoch))


def final_loss(history: History) -> float:
    """The last epoch's validation loss; ``inf`` for a run that diverged (NaN or stopped)."""
    v = history.val_loss[-1] if history.val_loss else math.inf
    return v if math.isfinite(v) and not history.stopped else math.inf
