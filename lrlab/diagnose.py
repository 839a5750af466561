"""Read a ``History``: healthy, overfitting, unstable or too slow — and which lr to change.

Introduced in the lesson on loss curves; the live lab prints its verdict and advice after each
run. ``diagnose(history)`` returns a ``Diagnosis``: a ``verdict``, the group to ``blame`` (or
``None``), ``lr_factors`` to apply (``{"body": 1/3}``: divide the body's lr by 3; empty when the
fix is not an lr change), a ``reason`` in words and the ``evidence`` (the numbers behind it).
The thresholds are plain numbers below. The rules are checked in this order, and the first that
fires gives the verdict:

1. **unstable** — a loss became NaN or infinite; or the train loss rose from one epoch to the
   next by more than 25 % and more than 0.1 (the curve bounces); or, within the first three
   epochs, one step's loss reached 1.5 times the first step's (the model was thrown off, and may
   now sit at chance level, ln(classes), where epoch curves alone look flat).
   Advice: divide the blamed group's lr by 3.
2. **overfitting** — the validation loss went back up: the mean of its last three epochs lies
   more than 10 % and more than 0.05 above its best, while the train/validation gap widened; or
   the validation loss ends more than twice the train loss and more than 0.3 above it.
   Advice: no lr change (more data, regularisation, early stopping at the best epoch).
3. **unstable**, again — the validation loss spiked (as in 1) at least twice while the train
   loss fell smoothly. Advice: divide the blamed group's lr by 3.
4. **too slow** — the train loss ends above half of ln(classes), the loss of a model that
   guesses; or it ends above a tenth of ln(classes) and still fell by more than a quarter over
   the last three epochs. Advice: multiply the blamed group's lr by 3.
5. **healthy** — none of the above. No lr change.

**Blame** compares each group with a reference, not with the other groups: a group's
update-to-weight ratio (how far its weights moved in an epoch, relative to their size) divided
by ``REFERENCE_RATIO`` for its kind (what that ratio is in a healthy run: a head moves about four
times as much as a body). An unstable run blames the group furthest *above* its reference in
epoch 1 (once a run is thrown off every group makes big moves, so later epochs no longer point at
the culprit); a too slow run blames the group furthest *below* its reference in the last epoch.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from .train import History

HEALTHY, OVERFITTING, UNSTABLE, TOO_SLOW = "healthy", "overfitting", "unstable", "too slow"
VERDICTS = (HEALTHY, OVERFITTING, UNSTABLE, TOO_SLOW)
RAISE, LOWER = 3.0, 1 / 3             # the advice: one group's lr times 3, or divided by 3
JUMP_FACTOR, JUMP_MIN = 1.25, 0.1     # an epoch-to-epoch rise > 25 % and > 0.1 is a spike
STEP_SPIKE = 1.5                      # a step loss 1.5x the first step's loss is a spike
RISE_FACTOR, RISE_MIN = 1.10, 0.05    # val (mean of last epochs) 10 % and 0.05 above its best
GAP_FACTOR, GAP_MIN = 2.0, 0.3        # val loss twice train loss and 0.3 above it: overfitting
SLOW_CHANCE = 0.5                     # train loss still above half of ln(classes): too slow
FALLING_CHANCE = 0.1                  # ... or above a tenth of it and still falling fast:
STILL_FALLING = 0.25                  # down by more than a quarter over the last epochs
LAST = 3                              # "the last epochs": slopes and the smoothed final val loss
REFERENCE_RATIO = {"body": 0.3, "head": 1.2}   # epoch-1 update/weight in a healthy run


@dataclass
class Diagnosis:
    """A verdict, the group to blame, the lr factors to apply, why, and the numbers behind it."""

    verdict: str
    reason: str
    blame: str | None = None
    lr_factors: dict[str, float] = field(default_factory=dict)
    evidence: dict = field(default_factory=dict)

    @property
    def advice(self) -> str:
        """The advice in words: ``"body lr ×1/3"``, ``"head lr ×3"`` or ``"no lr change"``."""
        if not self.lr_factors:
            return "no lr change"
        return ", ".join(f"{group} lr ×{_factor(f)}" for group, f in self.lr_factors.items())

    def __str__(self) -> str:
        return f"{self.verdict}: {self.reason} → {self.advice}"


def _factor(f: float) -> str:
    return f"1/{1 / f:.3g}" if f < 1 else f"{f:.3g}"


def _spikes(values: list[float]) -> list[tuple[int, float]]:
    """Every rise from one epoch to the next that counts as a spike: (1-based epoch, size)."""
    found = []
    for e in range(1, len(values)):
        rise = values[e] - values[e - 1]
        if rise > max((JUMP_FACTOR - 1) * values[e - 1], JUMP_MIN):
            found.append((e + 1, rise))
    return found


def _slope(values: list[float]) -> float:
    """Least-squares slope per epoch of the last ``LAST`` values (0 for a single value)."""
    tail = values[-LAST:]
    n = len(tail)
    if n < 2:
        return 0.0
    mx, my = (n - 1) / 2, sum(tail) / n
    return sum((i - mx) * (v - my) for i, v in enumerate(tail)) / sum((i - mx) ** 2 for i in range(n))


def update_ratios(history: History, epoch: int | None = None) -> dict[str, float]:
    """Each group's update-to-weight ratio in one epoch (1-based; the last by default), by name."""
    if not history.update_ratios:
        return {}
    row = history.update_ratios[-1 if epoch is None else epoch - 1]
    return dict(zip(history.group_names, row))


def peak_update_ratios(history: History) -> dict[str, float]:
    """Each group's largest update-to-weight ratio over the whole run, by group name."""
    if not history.update_ratios:
        return {}
    return {name: max(row[g] for row in history.update_ratios)
            for g, name in enumerate(history.group_names)}


def reference_ratio(group: str) -> float:
    """The update/weight ratio a group of this kind has in a healthy run: a name starting with
    ``head`` is a head, anything else a body (``body``, ``body.block1``, ``group 0``)."""
    return REFERENCE_RATIO["head" if group.startswith("head") else "body"]


def relative_ratios(history: History, epoch: int | None = None) -> dict[str, float]:
    """Each group's update ratio in ``epoch`` (the last by default) over its reference ratio."""
    return {name: r / reference_ratio(name) for name, r in update_ratios(history, epoch).items()}


def _blame(history: History, epoch: int | None, highest: bool) -> str | None:
    relative = relative_ratios(history, epoch)
    finite = {name: r for name, r in relative.items() if math.isfinite(r)}
    if not finite:
        return None
    return (max if highest else min)(finite, key=finite.get)


def _advise(verdict: str, reason: str, history: History, evidence: dict) -> Diagnosis:
    """An unstable run lowers the lr of the group furthest above its reference in epoch 1; a too
    slow run raises the lr of the group furthest below its reference in the last epoch."""
    unstable = verdict == UNSTABLE
    blame = _blame(history, 1 if unstable else None, highest=unstable)
    if blame is None:
        return Diagnosis(verdict, reason + (" (an lr too high?)" if unstable else " (an lr too low?)"),
                         evidence=evidence)
    relative = relative_ratios(history, 1 if unstable else None)
    where = "epoch 1" if unstable else "the last epoch"
    detail = ", ".join(f"{n} {r:.2g}" for n, r in sorted(relative.items(), key=lambda kv: -kv[1]))
    reason += (f"; update/weight over its reference in {where}: {detail} — "
               f"{blame}'s lr is too {'high' if unstable else 'low'}")
    return Diagnosis(verdict, reason, blame, {blame: LOWER if unstable else RAISE}, evidence)


def _bouncing(chosen, spikes, history, evidence) -> Diagnosis:
    which, at, size = max(chosen, key=lambda t: t[2])
    more = f" ({len(spikes)} spikes in all)" if len(spikes) > 1 else ""
    return _advise(UNSTABLE, f"{which} loss jumped up by {size:.2f} in epoch {at}{more}: "
                   "the curve bounces", history, evidence)


def chance_loss(history: History, n_classes: int | None = None) -> float:
    """ln(classes): the loss of a model that gives every class the same probability. Classes
    come from ``n_classes``, else from the history; a history that does not know them (a table
    from a book) falls back on its first train loss."""
    n = n_classes or history.n_classes
    if n:
        return math.log(n)
    return history.train_loss[0]


def diagnose(history: History, *, n_classes: int | None = None) -> Diagnosis:
    """Classify a run and advise an lr change; see the module docstring for the rules.

    ``n_classes`` is needed only for a history that does not record it (``History.from_epochs``)."""
    if not isinstance(history, History):
        raise TypeError(f"diagnose reads an lrlab History, got {type(history).__name__}")
    train, val = list(history.train_loss), list(history.val_loss)
    n = min(len(train), len(val))
    if n < 2:
        raise ValueError(f"diagnose needs at least 2 finished epochs, this run has {n}")
    train, val = train[:n], val[:n]
    chance = chance_loss(history, n_classes)
    evidence = {"epochs": n, "chance": chance, "update_ratios": update_ratios(history),
                "relative_ratios_first": relative_ratios(history, 1),
                "relative_ratios_last": relative_ratios(history)}

    if not all(math.isfinite(v) for v in train + val + list(history.step_loss)):
        return _advise(UNSTABLE, "the loss became infinite or NaN", history, evidence)

    spikes = [("train", e, s) for e, s in _spikes(train)] + [("validation", e, s) for e, s in _spikes(val)]
    evidence["spikes"] = sorted(spikes, key=lambda t: t[1])
    steps = list(history.step_loss)
    early = steps[:max(1, history.steps_per_epoch) * min(n, 3)] if steps else []
    step_spike = max(early) / steps[0] if early and steps[0] > 0 else 0.0
    evidence["step_spike"] = step_spike
    train_spikes = [t for t in spikes if t[0] == "train"]
    if train_spikes:
        return _bouncing(train_spikes, spikes, history, evidence)
    if step_spike > STEP_SPIKE:
        return _advise(UNSTABLE, f"one step's loss reached {max(early):.3g}, {step_spike:.1f}x the "
                       f"first step's {steps[0]:.3g}; the run ends at train {train[-1]:.3f} "
                       f"(chance: {chance:.2f})", history, evidence)

    gap = [v - t for t, v in zip(train, val)]
    best = min(range(n), key=val.__getitem__)
    recent = sum(val[-LAST:]) / len(val[-LAST:])
    last_fall = 1 - train[-1] / train[-min(n, LAST + 1)] if train[-min(n, LAST + 1)] > 0 else 0.0
    evidence.update(gap=gap, gap_end=gap[-1], gap_best=gap[best], gap_slope=_slope(gap),
                    best_epoch=best + 1, best_val=val[best], recent_val=recent,
                    train_slope=_slope(train) / max(train[-1], 1e-12),
                    val_slope=_slope(val) / max(val[-1], 1e-12), last_fall=last_fall,
                    train_vs_chance=train[-1] / chance)
    rose = recent > RISE_FACTOR * val[best] and recent - val[best] > RISE_MIN
    if best < n - 1 and rose and gap[-1] > gap[best]:
        return Diagnosis(OVERFITTING, f"validation loss bottomed at {val[best]:.3f} in epoch {best + 1} "
                         f"and rose to {val[-1]:.3f} while train loss fell to {train[-1]:.3f} "
                         f"(gap {gap[best]:.2f} → {gap[-1]:.2f}): stop at the best epoch", evidence=evidence)
    if val[-1] > GAP_FACTOR * train[-1] and gap[-1] > GAP_MIN:
        return Diagnosis(OVERFITTING, f"train loss {train[-1]:.3f} but validation loss {val[-1]:.3f}: "
                         "the model memorises the training set", evidence=evidence)

    if len(spikes) >= 2:
        return _bouncing(spikes, spikes, history, evidence)
    if train[-1] > SLOW_CHANCE * chance:
        return _advise(TOO_SLOW, f"train loss only went from {train[0]:.3f} to {train[-1]:.3f} in "
                       f"{n} epochs, above half of chance ({chance:.2f})", history, evidence)
    if train[-1] > FALLING_CHANCE * chance and last_fall > STILL_FALLING:
        return _advise(TOO_SLOW, f"train loss still fell {last_fall:.0%} over the last epochs, to "
                       f"{train[-1]:.3f}", history, evidence)
    return Diagnosis(HEALTHY, f"both losses fell without spikes: train {train[0]:.3f} → {train[-1]:.3f}, "
                     f"validation {val[0]:.3f} → {val[-1]:.3f}", evidence=evidence)
