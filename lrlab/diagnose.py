"""Read a ``History``: healthy, overfitting, diverging or too slow — with the evidence.

Introduced in the lesson on loss curves; the live lab prints its one-line verdict.
The thresholds are plain numbers below, so a student can read exactly what each verdict means.
The rules are checked in this order, and the first that fires gives the verdict:

1. **diverging** — a loss became NaN or infinite; or the train loss rose from one epoch to the
   next by more than 25 % and more than 0.1 (a spike: the curve bounces); or, within the first
   three epochs, one optimizer step's loss reached 1.5 times the loss of the very first step (the
   model was thrown off and may now sit at chance level, where epoch curves alone look flat).
2. **overfitting** — validation loss went back up: the mean of its last three epochs lies more
   than 10 % and more than 0.05 above its best, while the train/validation gap widened; or the
   validation loss ends more than twice the train loss and more than 0.3 above it.
3. **diverging**, again — the validation loss spiked (as in 1) at least twice while the train
   loss fell smoothly; one lone validation bump is noise. (Checked after overfitting, because an
   overfitting model's validation loss wobbles too.)
4. **too slow** — train loss is still above half its first-epoch value.
5. **healthy** — none of the above: both losses fell without spikes. When the train loss is
   still falling more than 0.02 per epoch at the end, the reason says more epochs would help.

``evidence`` holds the numbers behind the verdict: the gap (validation minus train) per epoch
and its slope over the last epochs, the spikes, the slope of each curve at the end (relative to
its last value), the largest step loss over the first step's (``step_spike``), and
each group's update-to-weight ratio (how far a group's weights moved in an epoch, relative to
their size). A diverging run blames the group with the largest ratio in epoch 1: once a run is
thrown off every group makes big moves, so later epochs no longer point at the culprit. A group
whose peak ratio is under a tenth of the busiest group's is named as *barely moving* (in a too
slow or healthy verdict): that is how a too-low lr on one group shows.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from .train import History

HEALTHY, OVERFITTING, DIVERGING, TOO_SLOW = "healthy", "overfitting", "diverging", "too slow"
VERDICTS = (HEALTHY, OVERFITTING, DIVERGING, TOO_SLOW)
JUMP_FACTOR, JUMP_MIN = 1.25, 0.1     # an epoch-to-epoch rise > 25 % and > 0.1 is a spike
STEP_SPIKE = 1.5                      # a step loss 1.5x the first step's loss is a spike
RISE_FACTOR, RISE_MIN = 1.10, 0.05    # val (mean of last epochs) 10 % and 0.05 above its best
GAP_FACTOR, GAP_MIN = 2.0, 0.3        # val loss twice train loss and 0.3 above it: overfitting
SLOW_FRACTION = 0.5                   # train loss still above half its first epoch: too slow
STALLED_FRACTION = 0.1                # a group moving < 1/10 of the busiest group: barely moving
STILL_FALLING = 0.02                  # train loss falling > 0.02 per epoch at the end: not done
LAST = 3                              # "the last epochs": slopes and the smoothed final val loss


@dataclass
class Diagnosis:
    """A verdict, the sentence that explains it, and the numbers behind it."""

    verdict: str
    reason: str
    evidence: dict = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.verdict}: {self.reason}"


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


def stalled_groups(history: History) -> list[str]:
    """Groups whose peak update ratio is below ``STALLED_FRACTION`` of the busiest group's."""
    peaks = peak_update_ratios(history)
    if len(peaks) < 2:
        return []
    top = max(peaks.values())
    return [name for name, r in peaks.items() if top > 0 and r < STALLED_FRACTION * top]


def _blame(history: History) -> str:
    """Rank the groups by their update ratio in epoch 1, before the damage spreads to all."""
    first = update_ratios(history, epoch=1)
    if not first:
        return " (learning rate too high?)"
    ranked = sorted(first.items(), key=lambda kv: -kv[1])
    others = ", ".join(f"{n} {r:.2g}" for n, r in ranked[1:])
    return (f"; largest updates in epoch 1: {ranked[0][0]} (update/weight {ranked[0][1]:.2g}"
            + (f"; {others}" if others else "") + ") — lr too high there?")


def _stalled_note(history: History) -> str:
    stalled = stalled_groups(history)
    if not stalled:
        return ""
    peaks = peak_update_ratios(history)
    busiest = max(peaks, key=peaks.get)
    return (f"; {', '.join(stalled)} barely moving (update/weight up to "
            f"{', '.join(f'{peaks[n]:.2g}' for n in stalled)} vs {peaks[busiest]:.2g} for {busiest})")


def _bouncing(chosen, spikes, history, evidence) -> Diagnosis:
    which, at, size = max(chosen, key=lambda t: t[2])
    more = f" ({len(spikes)} spikes in all)" if len(spikes) > 1 else ""
    return Diagnosis(DIVERGING, f"{which} loss jumped up by {size:.2f} in epoch {at}{more}: "
                     "the curve bounces" + _blame(history), evidence)


def diagnose(history: History) -> Diagnosis:
    """Classify a run from its losses; see the module docstring for the rules."""
    if not isinstance(history, History):
        raise TypeError(f"diagnose reads an lrlab History, got {type(history).__name__}")
    train, val = list(history.train_loss), list(history.val_loss)
    n = min(len(train), len(val))
    if n < 2:
        raise ValueError(f"diagnose needs at least 2 finished epochs, this run has {n}")
    train, val = train[:n], val[:n]
    evidence = {"epochs": n, "update_ratios": update_ratios(history),
                "peak_update_ratios": peak_update_ratios(history),
                "stalled_groups": stalled_groups(history)}

    if not all(math.isfinite(v) for v in train + val + list(history.step_loss)):
        return Diagnosis(DIVERGING, "the loss became infinite or NaN" + _blame(history), evidence)

    spikes = [("train", e, s) for e, s in _spikes(train)] + [("validation", e, s) for e, s in _spikes(val)]
    evidence["spikes"] = sorted(spikes, key=lambda t: t[1])
    evidence["train_jump"] = max((s for w, _, s in spikes if w == "train"), default=0.0)
    evidence["val_jump"] = max((s for w, _, s in spikes if w == "validation"), default=0.0)
    steps = list(history.step_loss)
    early = steps[:max(1, history.steps_per_epoch) * min(n, 3)] if steps else []
    step_spike = max(early) / steps[0] if early and steps[0] > 0 else 0.0
    evidence["step_spike"] = step_spike
    train_spikes = [t for t in spikes if t[0] == "train"]
    if train_spikes:
        return _bouncing(train_spikes, spikes, history, evidence)
    if step_spike > STEP_SPIKE:
        return Diagnosis(DIVERGING, f"one step's loss reached {max(early):.3g}, {step_spike:.1f}x the "
                         f"first step's {steps[0]:.3g}; the run ends at train {train[-1]:.3f}"
                         + _blame(history), evidence)

    gap = [v - t for t, v in zip(train, val)]
    best = min(range(n), key=val.__getitem__)
    recent = sum(val[-LAST:]) / len(val[-LAST:])
    evidence.update(gap=gap, gap_end=gap[-1], gap_best=gap[best], gap_slope=_slope(gap),
                    best_epoch=best + 1, best_val=val[best], recent_val=recent,
                    train_slope=_slope(train) / max(train[-1], 1e-12),
                    val_slope=_slope(val) / max(val[-1], 1e-12),
                    train_ratio=train[-1] / train[0] if train[0] > 0 else 1.0)
    rose = recent > RISE_FACTOR * val[best] and recent - val[best] > RISE_MIN
    if best < n - 1 and rose and gap[-1] > gap[best]:
        return Diagnosis(OVERFITTING, f"validation loss bottomed at {val[best]:.3f} in epoch {best + 1} "
                         f"and rose to {val[-1]:.3f} while train loss fell to {train[-1]:.3f} "
                         f"(gap {gap[best]:.2f} → {gap[-1]:.2f})", evidence)
    if val[-1] > GAP_FACTOR * train[-1] and gap[-1] > GAP_MIN:
        return Diagnosis(OVERFITTING, f"train loss {train[-1]:.3f} but validation loss {val[-1]:.3f}: "
                         "the model memorises the training set", evidence)

    if len(spikes) >= 2:
        return _bouncing(spikes, spikes, history, evidence)
    if train[-1] > SLOW_FRACTION * train[0]:
        return Diagnosis(TOO_SLOW, f"train loss only went from {train[0]:.3f} to {train[-1]:.3f} "
                         f"in {n} epochs (learning rate too low?)" + _stalled_note(history), evidence)
    still = _slope(train)
    falling = (f"; train loss still falling {-still:.2f} per epoch: more epochs would help"
               if still < -STILL_FALLING else "")
    return Diagnosis(HEALTHY, f"both losses fell without spikes: train {train[0]:.3f} → {train[-1]:.3f}, "
                     f"validation {val[0]:.3f} → {val[-1]:.3f}" + falling + _stalled_note(history),
                     evidence)
