"""Build, audit and describe optimizer parameter groups.

Introduced in the lesson on parameter groups. ``by_part`` and ``by_pattern`` build the list of
dicts an optimizer takes; ``audit`` finds the mistakes torch accepts silently; ``describe``
prints what an optimizer will really do to each part of a model.
"""
from __future__ import annotations

import difflib
import fnmatch
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
from torch import nn

from .models import parts

ULMFIT_DECAY = 1 / 2.6
# Keys torch itself or its lr schedulers put on a group, and the "name" label lrlab adds.
_KNOWN_EXTRA_KEYS = {"params", "param_names", "name", "initial_lr", "max_lr", "min_lr",
                     "base_momentum", "max_momentum", "swa_lr"}
# Misspellings seen in the wild that string similarity alone would not map to the right key.
_ALIASES = {"learning_rate": "lr", "learningrate": "lr", "rate": "lr", "wd": "weight_decay",
            "decay": "weight_decay", "beta": "betas", "mom": "momentum"}


def _hyperparameters(part: str, value) -> dict:
    """``0.01`` -> ``{'lr': 0.01}``; a dict is checked and copied."""
    hp = {"lr": value} if not isinstance(value, Mapping) else dict(value)
    if "params" in hp:
        raise ValueError(f"the settings for {part!r} must not contain 'params': lrlab fills them in")
    lr = hp.get("lr")
    if lr is not None and (isinstance(lr, bool) or not isinstance(lr, (int, float))
                           or not math.isfinite(lr) or lr < 0):
        raise ValueError(f"the lr for {part!r} must be a finite number >= 0, got {lr!r}")
    return hp


def _check_leftover(model: nn.Module, taken: set[int], rest) -> list[dict]:
    left = [(n, p) for n, p in model.named_parameters() if p.requires_grad and id(p) not in taken]
    if not left:
        return []
    if rest is None:
        names = ", ".join(n for n, _ in left[:6]) + (", ..." if len(left) > 6 else "")
        raise ValueError(f"{len(left)} trainable parameters are in no group ({names}); "
                         "add their part, or pass rest=<lr> to put them in a group of their own")
    return [{"params": [p for _, p in left], "name": "rest", **_hyperparameters("rest", rest)}]


def by_part(model: nn.Module, settings: Mapping, *, rest=None) -> list[dict]:
    """One group per named part: ``by_part(model, {'body': 1e-3, 'head': 1e-2})``.

    A value is an lr or a dict of hyperparameters (``{'lr': 1e-3, 'weight_decay': 0.01}``).
    Frozen parameters are left out. Every trainable parameter must land in exactly one group;
    ``rest`` gives the settings for those no part covers.
    """
    if not isinstance(settings, Mapping) or not settings:
        raise ValueError("settings must be a non-empty dict like {'body': 1e-3, 'head': 1e-2}")
    groups, owner = [], {}
    for part, value in settings.items():
        try:
            module = model.get_submodule(part)
        except (AttributeError, TypeError):
            raise ValueError(f"the model has no part named {part!r}; "
                             f"its parts are: {', '.join(parts(model))}") from None
        params = [p for p in module.parameters() if p.requires_grad]
        if not params:
            raise ValueError(f"part {part!r} has no trainable parameters (all frozen?); "
                             "leave it out of the groups")
        for p in params:
            if id(p) in owner:
                raise ValueError(f"parts {owner[id(p)]!r} and {part!r} overlap: a parameter may be "
                                 "in only one group; name disjoint parts (e.g. 'body.block1')")
            owner[id(p)] = part
        groups.append({"params": params, "name": part, **_hyperparameters(part, value)})
    return groups + _check_leftover(model, set(owner), rest)


def by_pattern(model: nn.Module, settings: Mapping, *, rest=None) -> list[dict]:
    """One group per glob pattern over parameter names, first match wins:
    ``by_pattern(model, {'*.bias': {'weight_decay': 0}, 'head.*': 1e-2}, rest=1e-3)``.
    """
    if not isinstance(settings, Mapping) or not settings:
        raise ValueError("settings must be a non-empty dict like {'head.*': 1e-2}")
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    groups, taken = [], set()
    for pattern, value in settings.items():
        params = [p for n, p in named if id(p) not in taken and fnmatch.fnmatchcase(n, pattern)]
        if not params:
            sample = ", ".join(n for n, _ in named[:8])
            raise ValueError(f"pattern {pattern!r} matches no trainable parameter still free; "
                             f"parameter names look like: {sample}")
        taken.update(id(p) for p in params)
        groups.append({"params": params, "name": pattern, **_hyperparameters(pattern, value)})
    return groups + _check_leftover(model, taken, rest)


def layerwise_decay(model: nn.Module, lr: float, *, decay: float = ULMFIT_DECAY,
                    order: list[str] | None = None) -> list[dict]:
    """Discriminative lrs: the top part gets ``lr``, each part below it ``decay`` times less.

    ``order`` lists parts bottom to top; by default the body's blocks, then ``head``.
    ``decay=1/2.6`` is ULMFiT's factor; MAE fine-tunes ViT-B with 0.65 and ViT-L/H with 0.75.
    """
    if not 0 < decay <= 1:
        raise ValueError(f"decay must be in (0, 1]: lower parts get smaller lrs, got {decay}")
    if order is None:
        if not (hasattr(model, "body") and hasattr(model, "head")):
            raise ValueError("the model has no body and head: pass order=[parts, bottom to top]")
        order = [f"body.{name}" for name, _ in model.body.named_children()] + ["head"]
    top = len(order) - 1
    return by_part(model, {part: lr * decay ** (top - i) for i, part in enumerate(order)})


def split_no_decay(groups: list[dict], weight_decay: float) -> list[dict]:
    """Each group split in two: weights get ``weight_decay``, biases and norm scales
    (1-D tensors) get none, as timm's ``param_groups_weight_decay`` does."""
    out = []
    for g in groups:
        params = list(g["params"])
        for suffix, chosen, wd in (("", [p for p in params if p.ndim > 1], weight_decay),
                                   (" (no decay)", [p for p in params if p.ndim <= 1], 0.0)):
            if chosen:
                name = f"{g.get('name', 'group')}{suffix}"
                out.append({**g, "params": chosen, "name": name, "weight_decay": wd})
    return out


@dataclass(frozen=True)
class Finding:
    """One problem ``audit`` found: a short ``kind`` and a sentence saying what to do."""

    kind: str
    message: str
    names: tuple[str, ...] = field(default=())

    def __str__(self) -> str:
        return f"[{self.kind}] {self.message}"


class Audit(list):
    """The findings of ``audit``; empty when nothing is wrong."""

    def kinds(self) -> set[str]:
        return {f.kind for f in self}

    def __str__(self) -> str:
        if not self:
            return "audit: no problems found"
        return "\n".join([f"audit: {len(self)} problem(s)"] + [f"  {f}" for f in self])

    __repr__ = __str__


def _names_of(model: nn.Module) -> dict[int, str]:
    """Each parameter's name (a tied parameter by its first name, as named_parameters gives)."""
    return {id(p): n for n, p in model.named_parameters()}


def _short(names: list[str], limit: int = 4) -> str:
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _label(i: int, group: dict) -> str:
    return f"group {i} ({group['name']})" if isinstance(group.get("name"), str) else f"group {i}"


def _plain(value):
    """A group setting as plain data (numbers, strings, lists; anything else as its repr)."""
    if value is None or type(value) in (bool, int, float, str):
        return value
    if type(value) in (list, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return float(value.item())
    return repr(value)


def snapshot(optimizer: torch.optim.Optimizer, model: nn.Module) -> dict:
    """What ``audit`` looks at, as plain data: the optimizer's class and default keys, each
    group's parameters (by name in ``model``; a tensor of another model by a placeholder) and
    settings, and each parameter of the model with whether it is trainable. Tests send this
    to the grader (see ``lrlab.probe``)."""
    names, foreign = _names_of(model), {}

    def name(p) -> str:
        if id(p) in names:
            return names[id(p)]
        return foreign.setdefault(id(p), f"<tensor {len(foreign)} of shape {tuple(p.shape)}>")

    return {"optimizer": type(optimizer).__name__,
            "defaults": sorted(optimizer.defaults),
            "groups": [{"params": [name(p) for p in g["params"]],
                        "settings": {k: _plain(v) for k, v in g.items() if k != "params"}}
                       for g in optimizer.param_groups],
            "parameters": [[n, p.requires_grad] for n, p in model.named_parameters()]}


def audit(optimizer: torch.optim.Optimizer, model: nn.Module) -> Audit:
    """Find what torch accepts without a word: parameters in no group, in two groups or twice
    in one, empty groups (an exhausted generator), misspelled group keys, frozen parameters
    handed to the optimizer, parameters of another model, and lr <= 0."""
    return audit_snapshot(snapshot(optimizer, model))


def audit_snapshot(snap: dict) -> Audit:
    """``audit`` of a ``snapshot`` (the same findings, from plain data alone)."""
    found, seen = Audit(), {}
    defaults = snap["defaults"]
    known = set(defaults) | _KNOWN_EXTRA_KEYS
    kind_name = snap["optimizer"]
    for i, g in enumerate(snap["groups"]):
        settings, params = g["settings"], g["params"]
        label = _label(i, settings)
        if not params:
            found.append(Finding("empty group", f"{label} has no parameters: usually a generator "
                                 "such as model.parameters() that was already used up"))
        for key in sorted(set(settings) - known):
            alias = _ALIASES.get(key.lower())
            hint = [alias] if alias in defaults else difflib.get_close_matches(
                key, list(defaults), n=1, cutoff=0.6)
            found.append(Finding("unknown key", f"{label} has key {key!r}, which {kind_name} "
                                 "stores and ignores" + (f" (did you mean {hint[0]!r}?)" if hint else "")))
        lr = settings.get("lr")
        if type(lr) in (int, float) and lr < 0:
            found.append(Finding("negative lr", f"{label} has lr {lr}: its parameters climb the loss"))
        elif type(lr) in (int, float) and lr == 0 and params:
            found.append(Finding("zero lr", f"{label} has lr 0: its parameters do not move, but every "
                                 "gradient is still computed; freeze with requires_grad_(False)"))
        in_group = set()
        for name in params:
            if name in in_group:
                found.append(Finding("duplicate", f"{name} appears twice in {label}: it is "
                                     "updated twice per step", (name,)))
            elif name in seen and seen[name] != i:
                found.append(Finding("in two groups", f"{name} is in group {seen[name]} and "
                                     f"{label}", (name,)))
            in_group.add(name)
            seen.setdefault(name, i)
    trainable = dict((n, t) for n, t in snap["parameters"])
    foreign = [n for g in snap["groups"] for n in g["params"] if n not in trainable]
    if foreign:
        found.append(Finding("not in model", f"{len(foreign)} tensor(s) in the optimizer are not "
                             "parameters of this model (an optimizer built for another copy?)"))
    frozen = [n for n, t in trainable.items() if not t and n in seen]
    if frozen:
        found.append(Finding("frozen in optimizer", f"frozen parameters handed to the optimizer: "
                             f"{_short(frozen)}; they are skipped while their grad is None, and train "
                             "at their group's lr the moment they are unfrozen", tuple(frozen)))
    missing = [n for n, t in trainable.items() if t and n not in seen]
    if missing:
        found.append(Finding("not in optimizer", f"trainable parameters in no group: {_short(missing)}; "
                             "they are never updated and their .grad piles up", tuple(missing)))
    return found


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, tuple):
        return "(" + ", ".join(_fmt(v) for v in value) + ")"
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return f"{value.item():.3g}"
    return str(value)


def _common_prefix(names: list[str]) -> str:
    if not names:
        return "-"
    if len(names) == 1:
        return names[0]
    prefix = ".".join(p for p in _prefix_parts(names))
    return f"{prefix}.*" if prefix else _short(names, 2)


def _prefix_parts(names: list[str]):
    for column in zip(*(n.split(".") for n in names)):
        if len(set(column)) != 1:
            return
        yield column[0]


def describe(optimizer: torch.optim.Optimizer, model: nn.Module | None = None) -> str:
    """A table: each group's name, parameter tensors and elements, which part of the model
    they are (given ``model``), its lr and the hyperparameters that differ between groups."""
    groups = optimizer.param_groups
    names = _names_of(model) if model is not None else {}
    differs = lambda k: len({repr(g.get(k)) for g in groups}) > 1  # noqa: E731
    shown = ["lr"] + [k for k in optimizer.defaults
                      if k != "lr" and (k in ("momentum", "weight_decay") or differs(k))]
    header = ["group", "name", "tensors", "elements"] + (["parameters"] if model is not None else []) + shown
    rows = []
    for i, g in enumerate(groups):
        row = [str(i), str(g.get("name", "-")), str(len(g["params"])),
               f"{sum(p.numel() for p in g['params']):,}"]
        if model is not None:
            row.append(_common_prefix([names.get(id(p), "?") for p in g["params"]]))
        rows.append(row + [_fmt(g.get(k)) for k in shown])
    widths = [max(len(r[c]) for r in [header] + rows) for c in range(len(header))]
    line = lambda r: "  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip()  # noqa: E731
    title = f"{type(optimizer).__name__} with {len(groups)} parameter group(s)"
    return "\n".join([title, line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])
