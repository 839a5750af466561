"""Read a ``History``: healthy, overfitting, unstable or too slow — and which lr to change.

Introduced in the lesson on loss curves; the live lab prints the verdict and its advice after
every run. ``diagnose(history)`` returns a ``Diagnosis``: the ``verdict``, the group to ``blame``
(or ``None``), the ``lr_factors`` to apply (``{"body": 1/3}``: divide the body's lr by 3; empty
when the fix is not one x3 step: an overfitting or healthy run, or one stuck at chance), the
``reason`` in words and the ``evidence`` behind it.

Every loss threshold is a fraction of *chance*, ln(classes): the loss of a model that gives every
class the same probability (2.30 for ten digits). "Big steps" compares each group with its own
reference, not with the other groups: a group takes big steps when its update-to-weight ratio in
epoch 1 (how far its weights moved, relative to their size) is above ``REFERENCE_RATIO`` for its
kind — 0.1 for a body, 1.0 for a head (a head has few weights, started small, and moves about ten
times as far as a body before it is in trouble). The rules, in the order the code applies them;
the first that fires gives the verdict:

1. **unstable** — a loss became NaN or infinite.
2. **unstable** — the train loss spiked (rose from one epoch to the next by more than 25 %, more
   than 0.1 x chance, and more than twice its noise: the standard error of the rise, from the
   spread of each epoch's step losses; a few small batches per epoch make a noisy mean), or it
   ends above half of chance after a step's loss reached 1.5 times the first step's within the
   first three epochs (thrown off and stuck near chance); and some group took big steps.
3. **overfitting** — the train loss ends below 0.01 x chance (the training set is memorised) and
   the validation loss ends above 1.2 times its best and more than 0.05 x chance above it; or the
   validation loss ends above twice the train loss and more than 0.3 x chance above it.
4. **unstable** — the train loss went up at some epoch, ends above 0.04 x chance, some group
   took big steps, and the validation loss ends above its best (bumps that cost the validation
   loss nothing are not instability). (A run with bumps that ends below 0.04 x chance, or whose
   groups all took small steps, skips rules 5 and 6.)
5. **too slow** — the train loss fell every epoch and ends above half of chance.
6. **too slow** — the train loss fell every epoch, the best validation loss of the second half
   of the run is more than 10 % below the best of the first half (still falling), and the
   validation loss ends below twice the train loss (the model is not memorising yet).
7. **never healthy at chance** — the best validation loss is above 0.9 x chance (the model never
   got much better than a uniform guess): **unstable** if the train loss spiked (as in rule 2) or
   some group took big steps, else **too slow**.
8. **healthy** — none of the above.

The advice is one step of x3. An **unstable** run divides by 3 the lr of the group furthest above
its reference in epoch 1 (later, once a run is thrown off, every group makes big moves). A **too
slow** run multiplies by 3 the lr of the body — the part of the body that moved least, summed over
the run — unless every body group barely moved (its weights changed by less than 5 % in all): then
the run is a head learning on fixed features, and only the head's lr speeds it up. Overfitting and
healthy runs get no lr change. Run again and diagnose again: each diagnosis advises one step.

A run **stuck at chance** (best validation loss above 0.9 x chance) that one step cannot move gets
its verdict but no ``lr_factors`` and no ``blame``; its advice is to try lrs a decade apart in the
lab (x1/10, x1/100 when unstable; x10, x100 when too slow), and ``evidence["stuck_at_chance"]``
is True. That is an **unstable** run whose validation loss ends above 1.02 x chance (still thrown
about, worse than a uniform guess), or a **too slow** run whose validation loss fell by less than
0.04 x chance after epoch 1 (three times as fast is still at chance).

The thresholds were tuned on seeds 0-3 of the settings of ``benchmarks/bench_diagnose.py`` (MLPs
of 32 to 128-128 units and the pretrained body; batch 32, 8 or the whole set; SGD momentum, Adam,
AdamW; 10 or 40 epochs) and are reported on its other seeds and on **held-out settings** it was
never tuned on (other widths and depths, batch sizes 4-256, SGD without momentum, Adam with other
betas, an lr grid offset by x sqrt(3), 8-30 epochs, five classes): ``benchmarks/RESULTS.md``.

**Where the rules do not generalise.** The references of "big steps" (0.1 and 1.0 per epoch) are
this course's calibration, not a law: an update ratio per epoch grows with the steps per epoch
and depends on the optimizer and the layer widths. The spike rules (2) are the weakest outside
the corpus. Their noise test removes most false alarms on small batches (a rise within two
standard errors of the epoch means), but a run whose loss bounces by more than its noise at lrs
where no x3 or /3 of one group changes the best validation loss is still called unstable and
told to divide an lr by 3: on the first held-out settings most false alarms are such runs,
fine-tuning the pretrained body on a hundred shifted samples and a deeper MLP with plain SGD at
batch 16, and the false alarms stay above the 10 % target there (12.5 %), while a second, fresh
held-out set meets it (2.4 %; ``benchmarks/RESULTS.md``). Treat the advice as a first guess to
check by retraining, and trust it least on tiny data.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from .train import History

HEALTHY, OVERFITTING, UNSTABLE, TOO_SLOW = "healthy", "overfitting", "unstable", "too slow"
VERDICTS = (HEALTHY, OVERFITTING, UNSTABLE, TOO_SLOW)
RAISE, LOWER = 3.0, 1 / 3             # the advice: one group's lr times 3, or divided by 3
REFERENCE_RATIO = {"body": 0.1, "head": 1.0}   # epoch-1 update/weight above this: big steps
JUMP_FACTOR, JUMP_MIN = 1.25, 0.1     # a spike: train loss up > 25 % and > 0.1 x chance
NOISE_Z = 2.0                         # ... and by more than 2 standard errors of the epochs' means
STEP_SPIKE, STUCK = 1.5, 0.5          # a step loss 1.5x the first, then ending above 0.5 x chance
MEMORISED = 0.01                      # train below 0.01 x chance: the training set is memorised
RISE_FACTOR, RISE_MIN = 1.2, 0.05     # ... and val 1.2x its best and 0.05 x chance above it
GAP_FACTOR, GAP_MIN = 2.0, 0.3        # val twice train and 0.3 x chance above it: overfitting
DONE = 0.04                           # a bumpy run whose train loss ends below this is done
SLOW_CHANCE = 0.5                     # a smooth run ending above half of chance: too slow
STILL_FALLING, CLOSE = 0.1, 2.0       # val best 10 % lower in the 2nd half, val < 2x train
STILL = 0.05                          # a body whose weights moved < 5 % in all barely moved
AT_CHANCE = 0.9                       # best val loss above 0.9 x chance: the run is at chance
BARELY_FELL = 0.04                    # ... too slow, val fell < 0.04 x chance: no x3 step will do
ABOVE_CHANCE = 1.02                   # ... unstable, val ends above 1.02 x chance: no /3 step will do
LAST = 3                              # epochs in the slopes shown as evidence


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
        """The advice in words: ``"body lr ×1/3"``, ``"head lr ×3"``, ``"no lr change"``, or for a
        run stuck at chance ``"try lrs a decade apart (×10, ×100) in the lab"``."""
        if self.lr_factors:
            return ", ".join(f"{group} lr ×{_factor(f)}" for group, f in self.lr_factors.items())
        if self.evidence.get("stuck_at_chance") and self.verdict in (UNSTABLE, TOO_SLOW):
            steps = "×1/10, ×1/100" if self.verdict == UNSTABLE else "×10, ×100"
            return f"try lrs a decade apart ({steps}) in the lab"
        if self.verdict in (UNSTABLE, TOO_SLOW):    # a history without update ratios
            step = _factor(LOWER if self.verdict == UNSTABLE else RAISE)
            return f"an lr ×{step} (no update ratios recorded: which group is unknown)"
        return "no lr change"

    def __str__(self) -> str:
        return f"{self.verdict}: {self.reason} → {self.advice}"


def _factor(f: float) -> str:
    return f"1/{1 / f:.3g}" if f < 1 else f"{f:.3g}"


def _epoch_noise(history: History, epochs: int) -> list[float]:
    """The standard error of each epoch's train loss, the mean of its step losses (0 when an
    epoch is one step, or the steps were not recorded)."""
    k = history.steps_per_epoch
    steps = history.step_loss
    if k < 2 or len(steps) < epochs * k:
        return [0.0] * epochs
    noise = []
    for e in range(epochs):
        xs = steps[e * k:(e + 1) * k]
        mean = sum(xs) / k
        noise.append(math.sqrt(sum((x - mean) ** 2 for x in xs) / (k - 1) / k))
    return noise


def _spikes(values: list[float], chance: float, noise: list[float]) -> list[tuple[int, float]]:
    """Every rise from one epoch to the next that counts as a spike: (1-based epoch, size).
    A rise within ``NOISE_Z`` standard errors of the two epochs' means is noise, not a spike."""
    return [(e + 1, values[e] - values[e - 1]) for e in range(1, len(values))
            if values[e] - values[e - 1] > max((JUMP_FACTOR - 1) * values[e - 1], JUMP_MIN * chance,
                                               NOISE_Z * math.hypot(noise[e], noise[e - 1]))]


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


def moved(history: History) -> dict[str, float]:
    """How far each group's weights moved in all: its update-to-weight ratios summed over epochs."""
    return {name: sum(row[g] for row in history.update_ratios)
            for g, name in enumerate(history.group_names)} if history.update_ratios else {}


def is_head(group: str) -> bool:
    """A group whose name starts with ``head`` is a head; any other (``body``, ``body.block1``,
    ``group 0``) counts as body."""
    return group.startswith("head")


def relative_ratios(history: History) -> dict[str, float]:
    """Each group's epoch-1 update ratio over its ``REFERENCE_RATIO``: above 1 means big steps."""
    return {name: r / REFERENCE_RATIO["head" if is_head(name) else "body"]
            for name, r in update_ratios(history, epoch=1).items()}


def chance_loss(history: History, n_classes: int | None = None) -> float:
    """ln(classes), from ``n_classes``, else ``history.n_classes``; a history that records
    neither (a table from a book) falls back on its first loss, about ln(classes) for a fresh
    head."""
    n = n_classes or history.n_classes
    if n:
        return math.log(n)
    return (history.step_loss or history.train_loss)[0]


def _too_high(relative: dict[str, float]) -> str | None:
    """The group furthest above its reference in epoch 1."""
    return max(relative, key=relative.get) if relative else None


def _too_low(distance: dict[str, float]) -> str | None:
    """The body group that moved least; the head when every body group barely moved."""
    bodies = [g for g in distance if not is_head(g)]
    heads = [g for g in distance if is_head(g)]
    if heads and all(distance[g] < STILL for g in bodies):
        return heads[0]
    return min(bodies, key=distance.get) if bodies else None


def _advise(verdict: str, reason: str, blame: str | None, evidence: dict) -> Diagnosis:
    factors = {} if blame is None else {blame: LOWER if verdict == UNSTABLE else RAISE}
    return Diagnosis(verdict, reason, blame, factors, evidence)


def _stuck_at_chance(verdict: str, reason: str, evidence: dict) -> Diagnosis:
    """A run stuck at chance that one x3 or /3 step will not move: the verdict, no lr change."""
    evidence["stuck_at_chance"] = True
    step = "÷3" if verdict == UNSTABLE else "×3"
    return Diagnosis(verdict, f"{reason}; stuck at chance: one {step} step will not be enough",
                     evidence=evidence)


def _unstable(reason: str, evidence: dict) -> Diagnosis:
    chance, best, end = evidence["chance"], evidence["best_val"], evidence["val_end"]
    relative = evidence["relative_ratios"]
    if best > AT_CHANCE * chance and end > ABOVE_CHANCE * chance:
        return _stuck_at_chance(UNSTABLE, f"{reason}; the validation loss never went below {best:.3f} "
                                f"and ends at {end:.3f}, above chance ({chance:.2f})", evidence)
    blame = _too_high(relative)
    if blame is not None:
        steps = ", ".join(f"{g} {r:.2g}" for g, r in sorted(relative.items(), key=lambda kv: -kv[1]))
        reason += f"; epoch-1 update/weight over its reference: {steps} — {blame}'s lr is too high"
    return _advise(UNSTABLE, reason, blame, evidence)


def _too_slow(reason: str, evidence: dict) -> Diagnosis:
    chance, best, fell = evidence["chance"], evidence["best_val"], evidence["val_fell"]
    if best > AT_CHANCE * chance and fell < BARELY_FELL * chance:
        return _stuck_at_chance(TOO_SLOW, f"{reason}; the validation loss fell only {fell:.3f} after "
                                f"epoch 1, to {best:.3f} (chance {chance:.2f})", evidence)
    distance = evidence["moved"]
    blame = _too_low(distance)
    if blame is not None:
        reason += (f"; weights moved in all: {', '.join(f'{g} {d:.2g}' for g, d in distance.items())}"
                   + (" — the body barely moved: a head on fixed features" if is_head(blame) else ""))
    return _advise(TOO_SLOW, reason, blame, evidence)


def diagnose(history: History, *, n_classes: int | None = None) -> Diagnosis:
    """Classify a run and advise one lr change; see the module docstring for the rules.

    ``n_classes`` is needed only for a history that does not record it (``History.from_epochs``)."""
    if not isinstance(history, History):
        raise TypeError(f"diagnose reads an lrlab History, got {type(history).__name__}")
    train, val = list(history.train_loss), list(history.val_loss)
    n = min(len(train), len(val))
    if n < 2:
        raise ValueError(f"diagnose needs at least 2 finished epochs, this run has {n}")
    train, val = train[:n], val[:n]
    chance = chance_loss(history, n_classes)
    relative = relative_ratios(history)
    big_steps = max(relative.values()) > 1 if relative else True   # no ratios: the curves decide
    best_val = min((v for v in val if math.isfinite(v)), default=math.inf)
    evidence = {"epochs": n, "chance": chance, "relative_ratios": relative, "moved": moved(history),
                "big_steps": big_steps, "best_val": best_val, "val_fell": val[0] - best_val,
                "val_end": val[-1], "stuck_at_chance": False}

    if not all(math.isfinite(v) for v in train + val + list(history.step_loss)):
        return _unstable("the loss became infinite or NaN", evidence)

    spikes = _spikes(train, chance, _epoch_noise(history, n))
    steps = list(history.step_loss)
    early = steps[:max(1, history.steps_per_epoch) * min(n, 3)]
    step_spike = max(early) / steps[0] if early and steps[0] > 0 else 0.0
    evidence.update(spikes=spikes, step_spike=step_spike)
    if big_steps and spikes:
        at, size = max(spikes, key=lambda s: s[1])
        more = f" ({len(spikes)} spikes in all)" if len(spikes) > 1 else ""
        return _unstable(f"train loss jumped up by {size:.2f} in epoch {at}{more}: the curve bounces",
                         evidence)
    if big_steps and step_spike > STEP_SPIKE and train[-1] > STUCK * chance:
        return _unstable(f"one step's loss reached {max(early):.3g}, {step_spike:.1f}x the first "
                         f"step's, and the run is stuck at train {train[-1]:.3f} (chance: {chance:.2f})",
                         evidence)

    gap = [v - t for t, v in zip(train, val)]
    best = min(range(n), key=val.__getitem__)
    half = n // 2
    val_fall = 1 - min(val[half:]) / min(val[:half]) if half else 0.0
    evidence.update(gap=gap, gap_end=gap[-1], gap_best=gap[best], gap_slope=_slope(gap),
                    best_epoch=best + 1, val_fall=val_fall,
                    train_slope=_slope(train) / max(train[-1], 1e-12))
    rose = val[-1] > RISE_FACTOR * val[best] and val[-1] - val[best] > RISE_MIN * chance
    if train[-1] < MEMORISED * chance and rose:
        return Diagnosis(OVERFITTING, f"train loss fell to {train[-1]:.3f} while validation loss rose "
                         f"from its best {val[best]:.3f} (epoch {best + 1}) to {val[-1]:.3f} "
                         f"(gap {gap[best]:.2f} → {gap[-1]:.2f}): stop at the best epoch, or get more "
                         "data", evidence=evidence)
    if val[-1] > GAP_FACTOR * train[-1] and gap[-1] > GAP_MIN * chance:
        return Diagnosis(OVERFITTING, f"train loss {train[-1]:.3f} but validation loss {val[-1]:.3f}: "
                         "the model memorises the training set", evidence=evidence)

    bumpy = any(b > a for a, b in zip(train, train[1:]))
    if bumpy and big_steps and train[-1] > DONE * chance and val[-1] > val[best]:
        return _unstable(f"train loss went up between epochs and ends at {train[-1]:.3f}, "
                         f"{train[-1] / min(train):.1f}x its lowest", evidence)
    if not bumpy and train[-1] > SLOW_CHANCE * chance:
        return _too_slow(f"train loss only went from {train[0]:.3f} to {train[-1]:.3f} in {n} epochs, "
                         f"above half of chance ({chance:.2f})", evidence)
    if not bumpy and val_fall > STILL_FALLING and val[-1] < CLOSE * train[-1]:
        return _too_slow(f"validation loss still falling: its best fell {val_fall:.0%} from the first "
                         f"half of the run to the second, to {min(val[half:]):.3f}, and it stays close "
                         f"to the train loss ({train[-1]:.3f})", evidence)
    if val[best] > AT_CHANCE * chance:
        never = (f"train loss {train[0]:.3f} → {train[-1]:.3f}{' with bumps' if bumpy else ''}, but "
                 f"the validation loss never went below {AT_CHANCE} x chance (best {val[best]:.3f}, "
                 f"chance {chance:.2f})")
        if spikes or big_steps:
            return _unstable(never, evidence)
        return _too_slow(never, evidence)
    if bumpy:
        return Diagnosis(HEALTHY, f"train loss {train[0]:.3f} → {train[-1]:.3f} with small bumps, "
                         f"validation {val[0]:.3f} → {val[-1]:.3f} (best {val[best]:.3f} in epoch "
                         f"{best + 1})", evidence=evidence)
    return Diagnosis(HEALTHY, f"both losses fell without spikes: train {train[0]:.3f} → {train[-1]:.3f}, "
                     f"validation {val[0]:.3f} → {val[-1]:.3f} (best {val[best]:.3f} in epoch "
                     f"{best + 1})", evidence=evidence)
