"""Regenerate the ps4 sample submissions from the released notebook and the solutions.

    python autograder/samples/ps4_loss_curves/make_samples.py [SAMPLE ...]

Each sample starts from exercises/ps4_loss_curves (what a student downloads) and fills in
answers. Expected scores: expected.json next to this file (by hand). The two text answers are
graded by hand, so they add nothing to the autograded score. The held-out runs in the hidden tests
come from record_runs.py.
"""
from __future__ import annotations

import sys

from autograder.samplekit import Kit, cheats, insert_after


EXPLANATION = """It is not good, and the quiz is right that it is overfitting: with 40 training digits the
train loss falls to 0.001 while validation loss bottoms at 0.82 (epoch 29) and rises to 1.31, so the
gap widens. But the model memorises the whole training set, not "some parts", and the lrs are not the
cause: body 0.1 and body 0.01 both overfit (best val 0.82 and 0.70). A too-high lr makes curves
bounce; it does not memorise. I would get more data (all 1,258 digits reach 0.11), regularise, and
stop early at the best validation epoch — after checking the split has no duplicated rows."""


NO_OVERFIT = '''def my_diagnose(train_loss, val_loss):
    t, v = list(train_loss), list(val_loss)
    if any(x != x for x in t + v):
        return "unstable"
    if any(b - a > max(0.25 * a, 0.1) for a, b in zip(t, t[1:])):
        return "unstable"
    if t[-1] > 0.5 * t[0]:                  # no overfitting rule at all: the validation loss is never read
        return "too slow"
    return "healthy"'''


COUNT_ONLY = '''def leaked_rows(split):
    train = {tuple(r) for r in split.x_train.tolist()}
    return sum(tuple(r) in train for r in split.x_val.tolist())    # a count, not the positions'''


# an honest attempt that gets every task wrong: the rules misread, the train rows' positions
WRONG_DIAGNOSE = '''def my_diagnose(train_loss, val_loss):
    t, v = train_loss, val_loss
    if v[-1] > v[0]:             # validation went up overall: "unstable"
        return "unstable"
    if v[-1] > t[-1]:            # validation above train: "overfitting"
        return "overfitting"
    if t[-1] > 0.9 * t[0]:
        return "too slow"
    return "healthy"'''

WRONG_LEAKED = '''def leaked_rows(split):
    val = {tuple(r) for r in split.x_val.tolist()}
    return [i for i, r in enumerate(split.x_train.tolist()) if tuple(r) in val]   # train positions'''


# two right answers in other styles and with other rules: float32 tensors with looser thresholds,
# then numpy with every threshold a fraction of chance (ln 10) and a helper per verdict
TENSOR_DIAGNOSE = '''def my_diagnose(train_loss, val_loss):
    t, v = torch.tensor(train_loss), torch.tensor(val_loss)
    if not torch.isfinite(torch.cat([t, v])).all():
        return "unstable"
    rise = t[1:] - t[:-1]
    if ((rise > 0.3 * t[:-1]) & (rise > 0.1)).any() or t[1:].max() > 2.5:
        return "unstable"
    gap, best = v - t, int(v.argmin())
    if v[-1] > 1.25 * v[best] and gap[-1] > gap[best] + 0.05:
        return "overfitting"
    if gap[-1] > 0.4 and v[-1] > 2.5 * t[-1]:
        return "overfitting"
    return "too slow" if t[-1] > t[0] / 2 else "healthy"'''

TENSOR_LEAKED = '''def leaked_rows(split):
    same = (split.x_val[:, None, :] == split.x_train[None, :, :]).all(dim=2)   # val x train
    return same.any(dim=1).nonzero().flatten().tolist()'''

NUMPY_DIAGNOSE = '''import numpy as np

CHANCE = np.log(10)

def _unstable(t, v):
    if not (np.isfinite(t).all() and np.isfinite(v).all()):
        return True
    jumps = np.diff(t)
    return ((jumps / t[:-1] > 0.2) & (jumps > 0.05 * CHANCE)).any() or t[1:].max() > 1.1 * CHANCE

def _overfitting(t, v):
    climbed = t[-1] < 0.05 * CHANCE and v[-1] - v.min() > 0.05 * CHANCE
    return climbed or (v[-1] - t[-1] > 0.15 * CHANCE and v[-1] > 3 * t[-1])

def my_diagnose(train_loss, val_loss):
    t, v = np.asarray(train_loss, dtype=float), np.asarray(val_loss, dtype=float)
    for verdict, fires in (("unstable", _unstable), ("overfitting", _overfitting)):
        if fires(t, v):
            return verdict
    return "too slow" if t[-1] > 0.4 * CHANCE else "healthy"'''

NUMPY_LEAKED = '''import numpy as np

def leaked_rows(split):
    train = split.x_train.numpy()
    return [i for i, row in enumerate(split.x_val.numpy()) if (train == row).all(axis=1).any()]'''


# wrong answers dressed up to pass in the kernel: a str that equals everything, a tensor subclass
# whose __torch_function__ answers .item() with 0 and torch.equal with True
ALWAYS_EQUAL = '''class Verdict(str):
    def __eq__(self, other): return True
    __hash__ = str.__hash__
    def strip(self): return self

def my_diagnose(train_loss, val_loss):
    return Verdict("healthy")'''

TENSOR_SUBCLASS = '''class Rows(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if func is torch.Tensor.item:
            return 0
        if func in (torch.equal, torch.Tensor.__eq__, torch.Tensor.eq):
            return True
        return super().__torch_function__(func, types, args, kwargs or {})

def leaked_rows(split):
    return torch.tensor([0]).as_subclass(Rows)'''


# the honest wrong answers, plus an attempt to read the verdicts from the tests themselves: a
# my_diagnose that looks up its callers' frames for the run's name or label, and the visible
# test's helper rebound (the hidden tests once called it) to answer from each run's name
READS_NAMES = '''import sys

_FROM_NAME = {"a healthy run": "healthy", "lr 0.0005 everywhere": "too slow", "body lr 1.0": "unstable",
              "40 training digits, 60 epochs": "overfitting", "head lr 3.0": "unstable", "a leaky split": "healthy",
              "the quiz's table": "healthy", "healthy": "healthy", "slow": "too slow", "overfit": "overfitting"}
_honest = my_diagnose

def my_diagnose(train_loss, val_loss):
    frame = sys._getframe(1)
    while frame is not None:
        for key in ("name", "label", "run", "key"):
            seen = frame.f_locals.get(key)
            if type(seen) is str and seen in _FROM_NAME:
                return _FROM_NAME[seen]
        frame = frame.f_back
    return _honest(train_loss, val_loss)'''

REBINDS_HELPER = '''def _ps4_verdicts(histories):
    return {name: _FROM_NAME.get(name) or my_diagnose(t, v) for name, (t, v) in histories.items()}

def _ps4_rows(rows):
    return [3, 4, 11, 19] if type(rows) is list and len(rows) > 10 else rows'''


RULES_EXPLANATION = """A NaN, a train loss that jumps up by over a quarter, or one that ends above a guess (ln 10): unstable,
the steps are too big. Validation climbing from its best while the train loss keeps falling, or far
above it: overfitting, the training set is memorised. A train loss that kept more than half of its
first value: too slow, the steps are too small. Anything else: healthy. The quiz's table is healthy:
both fall smoothly, the gap stays small and the last epoch gained 5 %. lrlab.diagnose calls it too
slow because it compares the halves of a five-epoch run; nothing there shows a too-low lr."""


KIT = Kit("ps4_loss_curves", written_answers={"explain-answer": EXPLANATION, "diagnose-answer": RULES_EXPLANATION})


WRONG_EXPLANATION = "The learning rates are too high in some layers; lower them."
WRONG_RULES = "I copied the rules from the lesson."


def wrong():
    return KIT.answered({"my-diagnose": WRONG_DIAGNOSE, "leaked-rows": WRONG_LEAKED,
                         "explain-answer": WRONG_EXPLANATION, "diagnose-answer": WRONG_RULES}, q1="A", q2="head")


def samples() -> dict:
    out = {"perfect": KIT.solved(), "untouched": KIT.untouched()}
    out["partial"] = KIT.answered({"my-diagnose": NO_OVERFIT, "leaked-rows": COUNT_ONLY,
                                   "explain-answer": WRONG_EXPLANATION}, q1="A")
    out["wrong"] = wrong()
    out["alt_correct_1"] = KIT.answered({"my-diagnose": TENSOR_DIAGNOSE, "leaked-rows": TENSOR_LEAKED},
                                        q1=" c ", q2="Body")
    out["alt_correct_2"] = KIT.answered({"my-diagnose": NUMPY_DIAGNOSE, "leaked-rows": NUMPY_LEAKED},
                                        q1="C", q2="body ")
    out.update(cheats(wrong(), after="setup-imports"))
    nb = wrong()
    insert_after(nb, "my-diagnose", ALWAYS_EQUAL)
    insert_after(nb, "leaked-rows", TENSOR_SUBCLASS)
    out["cheat_tensor_subclass"] = nb
    nb = wrong()
    insert_after(nb, "my-diagnose", READS_NAMES)
    insert_after(nb, "test-leaked-visible", REBINDS_HELPER)
    out["cheat_reads_names"] = nb
    return out


if __name__ == "__main__":
    KIT.write(samples(), sys.argv[1:])
