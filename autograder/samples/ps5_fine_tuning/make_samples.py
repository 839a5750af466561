"""Regenerate the ps5 sample submissions from the released notebook and the solutions.

    python autograder/samples/ps5_fine_tuning/make_samples.py

Each sample starts from exercises/ps5_fine_tuning (what a student downloads) and fills in
answers. Expected scores: expected.json next to this file (by hand). The text answer is graded by
hand, so it adds nothing to the autograded score.
"""
from __future__ import annotations

import sys

from autograder.samplekit import Kit, set_answer


EXPLANATION = """Adam with two groups: the new head at lr 1e-2, the pretrained body at 1e-3, no schedule.
The head starts random and needs large steps; the body already computes stroke features that only
need adapting to inverted pixels, and 1e-2 moves it ten times further in the first epoch. Measured
on seeds 0-2: body lr 1e-3 ends at 0.37 / 0.29 / 0.26, one lr 1e-2 at 0.79 / 0.60 / 0.45, a frozen
body at 0.43 / 0.34 / 0.32. It would not help on clean digits (freeze instead) or on shifted ones,
where the body must relearn and one lr (3e-3) beats it."""


FROZEN = '''def build(model):
    model.body.requires_grad_(False)                     # frozen body: cannot adapt to inverted inputs
    return torch.optim.Adam(model.head.parameters(), lr=1e-2), None'''


ONE_LR = '''def build(model):
    return torch.optim.Adam(model.parameters(), lr=1e-2), None   # one lr for everything'''


KIT = Kit("ps5_fine_tuning", written_answers={"explain-choice": EXPLANATION})


def samples() -> dict[str, nbformat.NotebookNode]:
    out = {"perfect": KIT.solved(), "untouched": KIT.untouched()}
    nb = KIT.solved()   # frozen body: seed 0 passes the visible test, the grading seeds miss the target
    set_answer(nb, "build", FROZEN)
    set_answer(nb, "explain-choice", "I froze the body because freezing is always safest.")
    KIT.quiz(nb, q1=0.003846, q2=True)
    out["partial"] = nb
    nb = KIT.solved()   # the seed's belief reversed: one lr for the whole model; quiz right
    set_answer(nb, "build", ONE_LR)
    out["one_lr"] = nb
    return out



if __name__ == "__main__":
    KIT.write(samples(), sys.argv[1:])
