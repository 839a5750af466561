"""Build, audit and describe optimizer parameter groups.

Introduced in the lesson on parameter groups. ``by_part`` and ``by_pattern`` build the list of
dicts an optimizer takes (a tied tensor, reached under two names, in one group only); ``audit``
finds the mistakes torch accepts silently; ``describe`` prints what an optimizer will really do
to each part of a model; ``set_lrs`` changes the lrs so that a scheduler keeps the change (the
default-lr lesson, on resuming).
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


def _aliases(model: nn.Module) -> dict[int, list[str]]:
    """Every name of each parameter: a tied tensor (``head.weight = embed.weight``) has several,
    although ``named_parameters()`` gives it once, under its first name."""
    names: dict[int, list[str]] = {}
    for n, p in model.named_parameters(remove_duplicate=False):
        names.setdefault(id(p), []).append(n)
    return names


def _nested(a: str, b: str) -> bool:
    """Whether one part contains the other ('' is the whole model)."""
    return a == b or not a or not b or a.startswith(b + ".") or b.startswith(a + ".")


def _check_tied(tied: str) -> None:
    if tied not in ("error", "first"):
        raise ValueError(f"tied must be 'error' or 'first', got {tied!r}")


def _tied_error(names: list[str], first: str, second: str) -> ValueError:
    return ValueError(f"{' and '.join(names)} are one tensor (tied weights), reached from {first!r} "
                      f"and {second!r}: a tensor takes one lr. Pass tied='first' to give it to "
                      f"{first!r}, the part listed first (or list {second!r} first)")


def by_part(model: nn.Module, settings: Mapping, *, rest=None, tied: str = "error") -> list[dict]:
    """One group per named part: ``by_part(model, {'body': 1e-3, 'head': 1e-2})``.

    A value is an lr or a dict of hyperparameters (``{'lr': 1e-3, 'weight_decay': 0.01}``).
    Frozen parameters are left out. Every trainable parameter must land in exactly one group;
    ``rest`` gives the settings for those no part covers.

    Tied weights (one tensor in two parts, as when ``head.weight = embed.weight``) raise a
    ``ValueError`` naming the tensor: grouped by module, torch itself would refuse it ("some
    parameters appear in more than one parameter group"). ``tied='first'`` puts such a tensor
    in the group of the first part listed that holds it, and leaves it out of the later ones.
    """
    if not isinstance(settings, Mapping) or not settings:
        raise ValueError("settings must be a non-empty dict like {'body': 1e-3, 'head': 1e-2}")
    _check_tied(tied)
    aliases = _aliases(model)
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
        kept = []
        for p in params:
            if id(p) not in owner:
                owner[id(p)] = part
                kept.append(p)
            elif _nested(owner[id(p)], part):
                raise ValueError(f"parts {owner[id(p)]!r} and {part!r} overlap: a parameter may be "
                                 "in only one group; name disjoint parts (e.g. 'body.block1')")
            elif tied == "error":
                raise _tied_error(aliases.get(id(p), ["?"]), owner[id(p)], part)
        if not kept:
            raise ValueError(f"part {part!r} has nothing left of its own: its parameters are tied to "
                             "parts listed before it; leave it out, or list it first")
        groups.append({"params": kept, "name": part, **_hyperparameters(part, value)})
    return groups + _check_leftover(model, set(owner), rest)


def by_pattern(model: nn.Module, settings: Mapping, *, rest=None, tied: str = "error") -> list[dict]:
    """One group per glob pattern over parameter names, first match wins:
    ``by_pattern(model, {'*.bias': {'weight_decay': 0}, 'head.*': 1e-2}, rest=1e-3)``.

    A tied tensor has several names (``named_parameters()`` shows only the first). When its
    names would put it in different groups, a ``ValueError`` names them; ``tied='first'`` puts
    it in the group of the first pattern that matches any of its names.
    """
    if not isinstance(settings, Mapping) or not settings:
        raise ValueError("settings must be a non-empty dict like {'head.*': 1e-2}")
    _check_tied(tied)
    patterns = list(settings)
    aliases = _aliases(model)
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]

    def first_match(name: str):
        return next((i for i, pattern in enumerate(patterns) if fnmatch.fnmatchcase(name, pattern)), None)

    chosen = {}
    for n, p in named:
        names = aliases.get(id(p), [n])
        matches = [first_match(a) for a in names]
        found = [m for m in matches if m is not None]
        chosen[id(p)] = min(found) if found else None
        if len(set(matches)) > 1 and tied == "error":
            where = ", ".join(f"{a} -> {patterns[m] if m is not None else 'rest'!r}"
                              for a, m in zip(names, matches))
            raise ValueError(f"{' and '.join(names)} are one tensor (tied weights) whose names "
                             f"go to different groups ({where}): a tensor takes one lr. Pass "
                             f"tied='first' to give it to {patterns[chosen[id(p)]]!r}, the first "
                             "pattern matching any of its names")
    groups, taken = [], set()
    for i, pattern in enumerate(patterns):
        params = [p for _, p in named if chosen[id(p)] == i]
        if not params:
            sample = ", ".join(n for n, _ in named[:8])
            raise ValueError(f"pattern {pattern!r} matches no trainable parameter still free; "
                             f"parameter names look like: {sample}")
        taken.update(id(p) for p in params)
        groups.append({"params": params, "name": pattern, **_hyperparameters(pattern, settings[pattern])})
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


# Where a schedule keeps the lrs it computes from: on each group, and on the scheduler.
_GROUP_BASES = ("initial_lr", "max_lr", "min_lr")
_SCHEDULER_BASES = ("base_lrs", "max_lrs")


def _schedulers(scheduler) -> list:
    """The scheduler and the parts of a SequentialLR or ChainedScheduler, nested ones too."""
    return [scheduler] + [s for part in getattr(scheduler, "_schedulers", ()) for s in _schedulers(part)]


def _check_scheduler(scheduler, n_groups: int) -> None:
    for s in _schedulers(scheduler):
        for attr in _SCHEDULER_BASES:
            values = getattr(s, attr, None)
            if isinstance(values, list) and len(values) != n_groups:
                raise ValueError(f"{type(s).__name__} has {len(values)} {attr} for {n_groups} "
                                 "groups (a group added after it was built?)")


def _scale_scheduler(scheduler, factors: list[float], groups: list[dict]) -> None:
    for s in _schedulers(scheduler):
        for attr in _SCHEDULER_BASES:
            values = getattr(s, attr, None)
            if isinstance(values, list):
                setattr(s, attr, [v * f for v, f in zip(values, factors)])
        if hasattr(s, "_last_lr"):  # what get_last_lr() reports
            s._last_lr = [g["lr"].clone() if isinstance(g["lr"], torch.Tensor) else g["lr"]
                          for g in groups]


def set_lrs(optimizer: torch.optim.Optimizer, lrs, scheduler=None) -> None:
    """Set group ``i``'s lr to ``lrs[i]`` now, and make ``scheduler`` go on from the new lrs.

    ``group['lr'] = v`` alone lasts only until the next ``scheduler.step()`` of a scheduler
    that computes each lr from a base: LambdaLR from ``scheduler.base_lrs`` (the base of
    Hugging Face's warmup schedules), OneCycleLR from each group's ``initial_lr``, ``max_lr``
    and ``min_lr``; after loading a checkpoint those bases are the checkpoint's, so the change
    is undone. Chainable schedulers (StepLR, CosineAnnealingLR) multiply the current lr and
    keep it. Here every base is scaled by its group's factor ``lrs[i] / lr``: the group's
    ``initial_lr``, ``max_lr`` and ``min_lr``, the scheduler's ``base_lrs`` (and CyclicLR's
    ``max_lrs``; the parts of a SequentialLR or ChainedScheduler too), so the schedule keeps
    its shape at the new level. ReduceLROnPlateau's ``min_lrs`` are floors, left as they are.

    Call it after ``optimizer.load_state_dict`` and ``scheduler.load_state_dict``. A group
    whose lr is 0 now (frozen, or the first step of a warmup) has no factor: changing it
    raises ``ValueError`` when there are bases to scale. Introduced in the default-lr lesson.
    """
    groups = optimizer.param_groups
    lrs = list(lrs)
    if len(lrs) != len(groups):
        raise ValueError(f"the optimizer has {len(groups)} groups, but {len(lrs)} lrs were given")
    if scheduler is not None:
        if getattr(scheduler, "optimizer", None) is not optimizer:
            raise ValueError("the scheduler belongs to another optimizer")
        _check_scheduler(scheduler, len(groups))
    factors = []
    for i, (group, new) in enumerate(zip(groups, lrs)):
        _hyperparameters(f"group {i}", new)  # a finite number >= 0
        old = float(group["lr"])
        has_bases = scheduler is not None or any(k in group for k in _GROUP_BASES)
        if old == 0 and new != 0 and has_bases:
            raise ValueError(f"group {i}'s lr is 0 now, so its schedule has no factor to scale "
                             "by: set its lr and its bases (initial_lr, scheduler.base_lrs) by hand")
        factors.append(new / old if old else 1.0)
    for group, new, factor in zip(groups, lrs, factors):
        if isinstance(group["lr"], torch.Tensor):
            group["lr"].fill_(new)
        else:
            group["lr"] = new
        for key in _GROUP_BASES:
            if key in group:
                group[key] = group[key] * factor
    if scheduler is not None:
        _scale_scheduler(scheduler, factors, groups)


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
