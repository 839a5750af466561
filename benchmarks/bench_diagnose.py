"""lrlab.diagnose judged by what would really have helped (issue 11).

The corpus: every setting below (from scratch and pretrained; three model sizes; normal, tiny,
leaky and few-shot data) x SGD momentum, Adam and AdamW x an 11 x 11 grid of (body lr, head lr)
in steps of x3 (SGD 1e-4 .. 5.9, Adam and AdamW 1e-5 .. 0.59: almost five decades) x 8 seeds,
trained with the batched ``lrlab.sweep.train_runs`` and cached in ``build/bench_diagnose/``
(git-ignored; ``--rebuild`` retrains).

Because the grid steps by x3, every change of the fixed menu -- one group's lr x3 or /3 -- of an
inner cell is another cell of the grid: its retrain is already there. The **outcome** of a run is
its lowest validation loss (training stopped at its best epoch; a run with no finite validation
loss scores ``CAP``). On a set of seeds, a menu change **improves** a configuration by
1 - mean(outcome with the change) / mean(outcome); it counts as a **label** when it improves by
more than ``MIN_GAIN`` and beyond the seed-to-seed noise (the mean of the paired log ratios of
the outcomes lies more than two standard errors below 0). A configuration's label is the
counted change that improves it most, else "no change".

diagnose is tuned on seeds 0-3 and reported on seeds 4-7; the labels of each half come from that
half's seeds alone. On the held-out half (inner cells only) it prints the confusion matrix of
verdict against label, and:

* advice success: advised runs (non-empty ``lr_factors``) whose retrain with those factors (same
  seed) has a lower outcome. Target >= 85 %.
* coverage: runs that one menu change improves by more than 20 %, advised in the direction and
  for the group of such a change. Target >= 75 %. (Also shown: advised exactly the label's change,
  the one that improves them most.)
* false alarms: runs that no menu change improves by more than 5 %, yet advised. Target <= 10 %.
  (Also shown: the same among runs that learned something, whose best validation loss went below
  0.9 x ln(classes).)

A run diagnose finds stuck at chance, that one step cannot move, gets no ``lr_factors`` but a hint
to try lrs a decade apart (``evidence["stuck_at_chance"]``; up when "too slow", down when
"unstable"). The metrics above count it as not advised, as they count every run without
``lr_factors``; the advice matrix shows it as its own row, and two more lines judge it: false
alarms if the hint counted as advice, and the hinted runs whose retrain with both lrs x9 (or /9:
two cells of the grid, the nearest to a decade) lowers the outcome by more than 5 %.

``--before REV`` scores ``lrlab/diagnose.py`` as it was at git revision REV side by side (an old
diagnose without ``lr_factors`` is read as the advice its text gives: see ``old_advice``).
Prints `<metric>: <value> (target <target>) PASS|MISS`; exits 0 unless it crashes.
Run: .venv/bin/python benchmarks/bench_diagnose.py [--before e5ab5e1] [--half tune|report]
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.util
import math
import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from lrlab import data, diagnose as dg, pretrained, sweep
from lrlab.models import mlp

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "build" / "bench_diagnose"
OPTIMIZERS = ("SGD momentum", "Adam", "AdamW")
GRID_BASE = {"SGD momentum": 1e-4, "Adam": 1e-5, "AdamW": 1e-5}
GRID, STEP = 11, 3.0                  # 11 lrs per group, each 3x the one before
SEEDS, TUNE, REPORT = range(8), range(0, 4), range(4, 8)
CAP = 10.0                            # the outcome of a run that never had a finite val loss
MIN_GAIN = 0.02                       # a label improves a configuration by more than 2 % ...
NOISE_SE = 2.0                        # ... and by more than 2 standard errors of the seeds
GROUPS = ("body", "head")
MENU = [(g, f) for g in GROUPS for f in (dg.RAISE, dg.LOWER)]
NO_CHANGE = "no change"
NEVER_LEARNED = 0.9                   # a run whose best val loss stays above 0.9 x ln(classes)


@dataclass(frozen=True)
class Setting:
    name: str
    start: str                        # "scratch" or "pretrained" (lrlab.pretrained, new head)
    hidden: tuple[int, ...]
    dataset: str                      # an lrlab.data preset, or "few-shot" (lesson 06's task)
    epochs: int
    batch_size: int | None            # None: the whole training set per step


SETTINGS = (
    Setting("small (32), normal", "scratch", (32,), "normal", 10, 32),
    Setting("medium (64-64), normal", "scratch", (64, 64), "normal", 10, 32),
    Setting("lab (128-128), normal", "scratch", (128, 128), "normal", 10, 32),
    Setting("lab (128-128), leaky", "scratch", (128, 128), "leaky", 10, 32),
    Setting("lab (128-128), tiny", "scratch", (128, 128), "tiny", 40, 8),
    Setting("pretrained, normal", "pretrained", pretrained.HIDDEN, "normal", 10, 32),
    Setting("pretrained, few-shot inverted", "pretrained", pretrained.HIDDEN, "few-shot", 40, None),
)


def split_of(setting: Setting) -> data.Split:
    if setting.dataset == "few-shot":
        return pretrained.fine_tuning_data(10, seed=0)
    return data.preset(setting.dataset, seed=pretrained.SPLIT_SEED)


def model_maker(setting: Setting, n_classes: int):
    if setting.start == "pretrained":
        return lambda seed: pretrained.load(new_head=True, seed=seed)
    return lambda seed: mlp(setting.hidden, n_classes=n_classes, seed=seed)


def grid_lrs(optimizer: str) -> list[float]:
    return [GRID_BASE[optimizer] * STEP ** k for k in range(GRID)]


def configs_of(optimizer: str) -> list[tuple[dict[str, float], int]]:
    """Row k = (i * GRID + j) * len(SEEDS) + s: body lr i, head lr j, seed s."""
    lrs = grid_lrs(optimizer)
    return [({"body": b, "head": h}, s) for b in lrs for h in lrs for s in SEEDS]


# -- the corpus, trained once and cached --------------------------------------------------------

def corpus_key() -> str:
    spec = repr(([asdict(s) for s in SETTINGS], OPTIMIZERS, GRID_BASE, GRID, STEP, list(SEEDS),
                 torch.__version__))
    return hashlib.sha256(spec.encode()).hexdigest()[:12]


def build(device: str, threads: int) -> dict:
    corpus, start = {}, time.perf_counter()
    for setting in SETTINGS:
        split = split_of(setting)
        make = model_maker(setting, split.n_classes)
        for optimizer in OPTIMIZERS:
            t = time.perf_counter()
            runs = sweep.train_runs(make, split, configs_of(optimizer), optimizer=optimizer,
                                    epochs=setting.epochs,
                                    batch_size=setting.batch_size or len(split.y_train),
                                    device=device, threads=threads)
            corpus[setting.name, optimizer] = runs
            print(f"  trained {setting.name}, {optimizer}: {len(runs)} runs in "
                  f"{time.perf_counter() - t:.1f} s", flush=True)
    return {"runs": corpus, "seconds": time.perf_counter() - start,
            "n_classes": {s.name: split_of(s).n_classes for s in SETTINGS}}


def load_corpus(rebuild: bool, device: str, threads: int) -> dict:
    path = CACHE / f"corpus-{corpus_key()}.pt"
    if path.exists() and not rebuild:
        return torch.load(path, weights_only=False)      # our own cache file, written below
    n = len(SETTINGS) * len(OPTIMIZERS) * GRID ** 2 * len(SEEDS)
    print(f"building the corpus: {n} runs ({path.relative_to(ROOT)})", flush=True)
    corpus = build(device, threads)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(corpus, path)
    return corpus


# -- outcomes and labels --------------------------------------------------------------------------

def outcomes(runs) -> torch.Tensor:
    """Lowest finite validation loss of each run, (GRID, GRID, seeds); ``CAP`` if none."""
    val = torch.where(torch.isfinite(runs.val_loss), runs.val_loss, torch.inf)
    best = val.min(dim=1).values.clamp(max=CAP)
    return best.view(GRID, GRID, len(SEEDS))


def shift(i: int, j: int, factors: dict[str, float]) -> tuple[int, int]:
    """The grid cell of (i, j) with ``factors`` applied (each x3 or /3, or absent)."""
    steps = {}
    for group, f in factors.items():
        k = round(math.log(f) / math.log(STEP))
        if group not in GROUPS or not math.isclose(f, STEP ** k, rel_tol=1e-6) or abs(k) > 1:
            raise ValueError(f"advice {factors} is not one lr x3 or /3 per group")
        steps[group] = k
    return i + steps.get("body", 0), j + steps.get("head", 0)


@dataclass
class Label:
    change: tuple[str, float] | None          # the best counted menu change, None: no change
    gains: dict[tuple[str, float], float]     # every menu change's improvement (a fraction)
    counted: set                              # changes beyond MIN_GAIN and the noise

    @property
    def name(self) -> str:
        return NO_CHANGE if self.change is None else change_name(self.change)


def change_name(change: tuple[str, float]) -> str:
    group, f = change
    return f"{group} x3" if f > 1 else f"{group} /3"


def label(out: torch.Tensor, i: int, j: int, seeds) -> Label:
    base = out[i, j, list(seeds)].double()
    gains, counted = {}, set()
    for change in MENU:
        a, b = shift(i, j, dict([change]))
        alt = out[a, b, list(seeds)].double()
        gains[change] = 1 - (alt.mean() / base.mean()).item()
        ratio = torch.log(alt / base)
        noise = NOISE_SE * ratio.std().item() / math.sqrt(len(ratio))
        if gains[change] > MIN_GAIN and -ratio.mean().item() > noise:
            counted.add(change)
    best = max(counted, key=gains.get, default=None)
    return Label(best, gains, counted)


# -- the diagnose under test ----------------------------------------------------------------------

def diagnose_at(rev: str | None):
    """``diagnose`` from this checkout, or from lrlab/diagnose.py at git revision ``rev``."""
    if rev is None:
        return dg.diagnose
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:lrlab/diagnose.py"],
                            check=True, capture_output=True, text=True).stdout
    spec = importlib.util.spec_from_loader(f"lrlab._diagnose_{rev}", loader=None)
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "lrlab"
    sys.modules[spec.name] = module                     # dataclasses look their module up
    exec(compile(source, f"{rev}:lrlab/diagnose.py", "exec"), module.__dict__)
    return module.diagnose


def old_advice(d, history) -> tuple[str, dict[str, float]]:
    """(verdict, lr_factors) of a diagnosis; one from before ``lr_factors`` existed is read as
    the advice its text gives: "diverging" lowers the group it names (the largest update ratio
    in epoch 1); "too slow" raises the groups it calls barely moving, else every group's lr
    ("learning rate too low?"); "healthy" with a barely moving group raises that group."""
    if hasattr(d, "lr_factors"):
        return d.verdict, dict(d.lr_factors)
    verdict = dg.UNSTABLE if d.verdict == "diverging" else d.verdict
    stalled = d.evidence.get("stalled_groups", [])
    if verdict == dg.UNSTABLE:
        first = dg.update_ratios(history, epoch=1)
        return verdict, ({max(first, key=first.get): dg.LOWER} if first else {})
    if verdict == dg.TOO_SLOW:
        return verdict, {g: dg.RAISE for g in (stalled or GROUPS)}
    if verdict == dg.HEALTHY and stalled:
        return verdict, {g: dg.RAISE for g in stalled}
    return verdict, {}


# -- scoring ----------------------------------------------------------------------------------------

@dataclass
class Judged:
    setting: str
    optimizer: str
    cell: tuple[int, int]
    seed: int
    verdict: str
    factors: dict[str, float]
    label: Label
    success: bool | None                      # None: not advised
    never_learned: bool                       # best val loss above NEVER_LEARNED x chance
    hint: int                                 # "stuck at chance, lrs a decade apart": +1 up, -1 down
    hint_gain: float | None                   # both lrs x9 (/9) that way: the improvement, None off-grid


def judge(corpus: dict, diagnose, seeds) -> list[Judged]:
    judged = []
    for (setting, optimizer), runs in corpus["runs"].items():
        out = outcomes(runs)
        for i in range(1, GRID - 1):
            for j in range(1, GRID - 1):
                lab = label(out, i, j, seeds)
                for s in seeds:
                    k = (i * GRID + j) * len(SEEDS) + s
                    history = runs.history(k)
                    history.n_classes = corpus["n_classes"][setting]
                    d = diagnose(history)
                    verdict, factors = old_advice(d, history)
                    success = None
                    if factors:
                        a, b = shift(i, j, factors)
                        success = bool(out[a, b, s] < out[i, j, s])
                    stuck = min(history.val_loss) > NEVER_LEARNED * math.log(history.n_classes)
                    hint = decade_hint(d)
                    judged.append(Judged(setting, optimizer, (i, j), s, verdict, factors, lab, success,
                                         stuck, hint, hint and two_steps(out, i, j, s, hint)))
    return judged


def decade_hint(d) -> int:
    """+1 (-1) for a run diagnosed stuck at chance, told to try lrs a decade higher (lower); else 0."""
    if not getattr(d, "evidence", {}).get("stuck_at_chance"):
        return 0
    return 1 if d.verdict == dg.TOO_SLOW else -1


def two_steps(out: torch.Tensor, i: int, j: int, seed: int, way: int) -> float | None:
    """How much both groups' lr x9 (way +1) or /9 (way -1), two cells off, improves the run."""
    a, b = i + 2 * way, j + 2 * way
    if not (0 <= a < GRID and 0 <= b < GRID):
        return None
    return 1 - (out[a, b, seed] / out[i, j, seed]).item()


def advice_name(r: Judged) -> str:
    if r.hint:
        return f"lrs {'x' if r.hint > 0 else '/'}10 (stuck)"
    factors = r.factors
    if not factors:
        return NO_CHANGE
    return " & ".join(change_name((g, f)) for g, f in sorted(factors.items()))


def metrics(judged: list[Judged]) -> dict[str, tuple[int, int]]:
    """Each metric as (count, out of)."""
    advised = [r for r in judged if r.factors]
    big = [r for r in judged if r.label.change is not None and r.label.gains[r.label.change] > 0.20]
    small = [r for r in judged if max(r.label.gains.values()) <= 0.05]
    learned = [r for r in small if not r.never_learned]
    hinted = [r.hint_gain for r in judged if r.hint and r.hint_gain is not None]

    def single(r):
        return next(iter(r.factors.items())) if len(r.factors) == 1 else None

    def right(r):
        return single(r) in {c for c in r.label.counted if r.label.gains[c] > 0.20}

    return {"advice success": (sum(r.success for r in advised), len(advised)),
            "coverage": (sum(right(r) for r in big), len(big)),
            "coverage, advice = the label's change": (sum(single(r) == r.label.change for r in big), len(big)),
            "false alarms": (sum(bool(r.factors) for r in small), len(small)),
            "false alarms, runs that learned": (sum(bool(r.factors) for r in learned), len(learned)),
            "false alarms, the decade hint counted as advice": (sum(bool(r.factors or r.hint) for r in small),
                                                                len(small)),
            "decade hints whose both lrs x9 (/9) improve > 5 %": (sum(g > 0.05 for g in hinted), len(hinted))}


TARGETS = {"advice success": (">=", 0.85), "coverage": (">=", 0.75), "false alarms": ("<=", 0.10)}


def confusion(judged: list[Judged], rows_of, cols: list[str], title: str) -> None:
    counts = Counter((rows_of(r), r.label.name) for r in judged)
    rows = sorted({rows_of(r) for r in judged}, key=lambda v: (v not in dg.VERDICTS, v))
    width = max(len(title), *(len(r) for r in rows)) + 2
    print(f"{title:<{width}}" + "".join(f"{c:>11}" for c in cols) + f"{'all':>8}")
    for row in rows:
        print(f"{row:<{width}}" + "".join(f"{counts[row, c]:>11}" for c in cols)
              + f"{sum(counts[row, c] for c in cols):>8}")
    print(f"{'all':<{width}}" + "".join(f"{sum(counts[r, c] for r in rows):>11}" for c in cols)
          + f"{len(judged):>8}")


def report(name: str, judged: list[Judged], verbose: bool) -> dict:
    cols = [NO_CHANGE] + [change_name(c) for c in MENU]
    print(f"\n== {name}: {len(judged)} held-out runs (columns: label)")
    confusion(judged, lambda r: r.verdict, cols, "verdict")
    print()
    confusion(judged, advice_name, cols, "advice")
    found = metrics(judged)
    print()
    for metric, (k, n) in found.items():
        value = k / n if n else float("nan")
        line = f"{name} {metric}: {f'{100 * value:.1f} %' if n else 'none'} ({k} of {n})"
        if metric in TARGETS:
            op, target = TARGETS[metric]
            ok = value >= target if op == ">=" else value <= target
            line += f" (target {op} {100 * target:.0f} %) {'PASS' if ok else 'MISS'}"
        print(line)
    if verbose:
        by = Counter()
        for r in judged:
            key = (r.setting, r.optimizer)
            by[key, "n"] += 1
            by[key, "advised"] += bool(r.factors)
            by[key, "ok"] += bool(r.success)
        print()
        for key in dict.fromkeys(k for k, _ in by):
            print(f"  {key[0]:32} {key[1]:13} advised {by[key, 'advised']:4} of {by[key, 'n']:4}, "
                  f"helped {by[key, 'ok']:4}")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", metavar="REV", help="also score lrlab/diagnose.py at git REV")
    parser.add_argument("--half", choices=("report", "tune"), default="report",
                        help="which seeds to score: the held-out half (default) or the tuning half")
    parser.add_argument("--rebuild", action="store_true", help="retrain the corpus")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--verbose", action="store_true", help="a line per setting and optimizer")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, load average "
          f"{' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    start = time.perf_counter()
    corpus = load_corpus(args.rebuild, args.device, args.threads)
    total = sum(len(r) for r in corpus["runs"].values())
    print(f"corpus: {total} runs ({len(SETTINGS)} settings x {len(OPTIMIZERS)} optimizers x "
          f"{GRID}x{GRID} lrs x {len(SEEDS)} seeds), trained in {corpus['seconds']:.0f} s; "
          f"loaded in {time.perf_counter() - start:.1f} s")
    seeds = REPORT if args.half == "report" else TUNE
    if args.before:
        report(f"before ({args.before})", judge(corpus, diagnose_at(args.before), seeds), args.verbose)
    report("after" if args.before else "diagnose", judge(corpus, dg.diagnose, seeds), args.verbose)
    print(f"\nscored in {time.perf_counter() - start:.0f} s in all")


if __name__ == "__main__":
    sys.exit(main())
