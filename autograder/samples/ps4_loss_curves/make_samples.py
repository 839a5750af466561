"""Regenerate the ps4 sample submissions from the released notebook and the solutions.

    python autograder/samples/ps4_loss_curves/make_samples.py

Each sample starts from exercises/ps4_loss_curves (what a student downloads) and fills in
answers. Expected scores: expected.json next to this file (by hand). The text answer is graded by
hand, so it adds nothing to the autograded score.
"""
from __future__ import annotations

import sys

from autograder.samplekit import Kit, set_answer


EXPLANATION = """It is not good, and the seed is right that it is overfitting: with 40 training digits the
train loss falls to 0.001 while validation loss bottoms at 0.82 (epoch 29) and rises to 1.31, so the
gap widens. But the model memorises the whole training set, not "some parts", and the lrs are not the
cause: body 0.1 and body 0.01 both overfit (best val 0.82 and 0.70). A too-high lr makes curves
bounce; it does not memorise. I would get more data (all 1,258 digits reach 0.11), regularise, and
stop early at the best validation epoch — after checking the split has no duplicated rows."""


GAP_ONLY = '''def my_diagnose(train_loss, val_loss):
    t, v = list(train_loss), list(val_loss)
    if any(x != x for x in t + v):
        return "diverging"
    if any(b - a > max(0.25 * a, 0.1) for a, b in zip(t, t[1:])):
        return "diverging"
    if v[-1] > 2 * t[-1] and v[-1] - t[-1] > 0.3:     # only the gap rule: misses a U-shaped val curve
        return "overfitting"
    if t[-1] > 0.5 * t[0]:
        return "too slow"
    return "healthy"'''


COUNT_ONLY = '''def leaked_rows(split):
    train = {tuple(r) for r in split.x_train.tolist()}
    return sum(tuple(r) in train for r in split.x_val.tolist())    # a count, not the positions'''


KIT = Kit("ps4_loss_curves", written_answers={"explain-answer": EXPLANATION})


def samples() -> dict[str, nbformat.NotebookNode]:
    out = {"perfect": KIT.solved(), "untouched": KIT.untouched()}
    nb = KIT.solved()
    set_answer(nb, "my-diagnose", GAP_ONLY)
    set_answer(nb, "leaked-rows", COUNT_ONLY)
    set_answer(nb, "explain-answer", "The learning rates are too high in some layers; lower them.")
    KIT.quiz(nb, q1="A")
    out["partial"] = nb
    return out



if __name__ == "__main__":
    KIT.write(samples(), sys.argv[1:])
