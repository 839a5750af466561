"""Read a ``History``: healthy, overfitting, diverging or too slow — with the evidence.

Introduced in the lesson on loss curves; the live lab prints its one-line verdict.
The thresholds are plain numbers below, so a student can read exactly what each verdict means.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from .train import History

HEALTHY, OVERFITTING, DIVERGING, TOO_SLOW = "healthy", "overfitting", "diverging", "too slow"
JUMP_FACTOR, JUMP_MIN = 1.25, 0.1     # an epoch-to-epoch rise > 25 % and > 0.1 is a spike
RISE_FACTOR = 1.10                    # final val loss 10 % above its best: overfitting
GAP_FACTOR, GAP_MIN = 2.0, 0.3        # val loss twice train loss and 0.3 above it: overfitting
SLOW_FRACTION = 0.5                   # train loss still above half its first epoch: too slow


@dataclass
class Diagnosis:
    """A verdict, the sentence that explains it, and the numbers behind it."""

    verdict: str
    reason: str
    evidence: dict = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.verdict}: {self.reason}"


def _largest_jump(values: list[float]) -> tuple[float, int]:
    """The biggest rise from one epoch to the next that counts as a spike, and its epoch."""
    best, where = 0.0, 0
    for e in range(1, len(values)):
        rise = values[e] - values[e - 1]
        if rise > max(JUMP_FACTOR * values[e - 1] - values[e - 1], JUMP_MIN) and rise > best:
            best, where = rise, e + 1
    return best, where


def update_ratios(history: History) -> dict[str, float]:
    """Each group's last-epoch update-to-weight ratio, by group name."""
    if not history.update_ratios:
        return {}
    return dict(zip(history.group_names, history.update_ratios[-1]))


def diagnose(history: History) -> Diagnosis:
    """Classify a run from its per-epoch train and validation losses."""
    if not isinstance(history, History):
        raise TypeError(f"diagnose reads an lrlab History, got {type(history).__name__}")
    train, val = history.train_loss, history.val_loss
    if len(train) < 2 or len(val) < 2:
        raise ValueError(f"diagnose needs at least 2 finished epochs, this run has {len(val)}")
    ratios = update_ratios(history)
    evidence = {"epochs": len(val), "update_ratios": ratios}
    fastest = max(ratios, key=ratios.get) if ratios else None

    if not all(math.isfinite(v) for v in train + val):
        return Diagnosis(DIVERGING, "the loss became infinite or NaN" + _blame(fastest, ratios),
                         evidence)
    train_jump, train_at = _largest_jump(train)
    val_jump, val_at = _largest_jump(val)
    evidence.update(train_jump=train_jump, val_jump=val_jump)
    if train_jump or val_jump:
        which, size, at = ("train", train_jump, train_at) if train_jump >= val_jump else ("validation", val_jump, val_at)
        return Diagnosis(DIVERGING, f"{which} loss jumped up by {size:.2f} in epoch {at}"
                         + _blame(fastest, ratios), evidence)

    best = min(range(len(val)), key=val.__getitem__)
    gap_end, gap_best = val[-1] - train[-1], val[best] - train[best]
    evidence.update(best_epoch=best + 1, best_val=val[best], gap_end=gap_end, gap_best=gap_best)
    if best < len(val) - 1 and val[-1] > RISE_FACTOR * val[best] and gap_end > gap_best:
        return Diagnosis(OVERFITTING, f"validation loss bottomed at {val[best]:.3f} in epoch {best + 1} "
                         f"and rose to {val[-1]:.3f} while train loss fell to {train[-1]:.3f}", evidence)
    if val[-1] > GAP_FACTOR * train[-1] and gap_end > GAP_MIN:
        return Diagnosis(OVERFITTING, f"train loss {train[-1]:.3f} but validation loss {val[-1]:.3f}: "
                         "the model memorises the training set", evidence)

    evidence["train_ratio"] = train[-1] / train[0]
    if train[-1] > SLOW_FRACTION * train[0]:
        slowest = min(ratios, key=ratios.get) if ratios else None
        blame = f"; slowest group: {slowest} (update/weight {ratios[slowest]:.2g} per epoch)" if slowest else ""
        return Diagnosis(TOO_SLOW, f"train loss only went from {train[0]:.3f} to {train[-1]:.3f} "
                         f"in {len(train)} epochs (learning rate too low?){blame}", evidence)
    return Diagnosis(HEALTHY, f"both losses fell smoothly: train {train[0]:.3f} → {train[-1]:.3f}, "
                     f"validation {val[0]:.3f} → {val[-1]:.3f}", evidence)


def _blame(fastest: str | None, ratios: dict[str, float]) -> str:
    if fastest is None:
        return " (learning rate too high?)"
    return f"; largest updates: {fastest} (update/weight {ratios[fastest]:.2g} per epoch — lr too high?)"
