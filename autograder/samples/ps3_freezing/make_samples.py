"""Regenerate the ps3 sample submissions from the released notebook and the solutions.

    python autograder/samples/ps3_freezing/make_samples.py

Each sample starts from exercises/ps3_freezing (what a student downloads) and fills in
answers. Expected scores: expected.json next to this file (by hand).
"""
from __future__ import annotations

import sys

from autograder.samplekit import Kit, set_answer


LR_ZERO = '''def train_head(model, data, epochs):
    # the seed quiz's advice: lr=0 for the body, the head trains
    optimizer = torch.optim.SGD([{"params": model.body.parameters(), "lr": 0.0},
                                 {"params": model.head.parameters(), "lr": 0.05}], momentum=0.9)
    return optimizer, train(model, optimizer, data, epochs=epochs)'''


NO_KEEP_EVAL = '''def train_head(model, data, epochs):
    model.body.requires_grad_(False)
    model.body.eval()                 # undone by model.train() inside train()
    optimizer = torch.optim.SGD(model.head.parameters(), lr=0.05, momentum=0.9)
    return optimizer, train(model, optimizer, data, epochs=epochs)'''


HARD_CODED_LR = '''def unfreeze_last_block(model, optimizer):
    model.body.block2.requires_grad_(True)
    model.body.block2.train()
    optimizer.add_param_group({"params": model.body.block2.parameters(), "lr": 0.005})   # typed in'''


KIT = Kit("ps3_freezing")


def samples() -> dict[str, nbformat.NotebookNode]:
    out = {"perfect": KIT.solved(), "untouched": KIT.untouched()}
    nb = KIT.solved()  # lr = 0 instead of freezing, a hard-coded lr, q1 and q3 wrong
    set_answer(nb, "train-head", LR_ZERO)
    set_answer(nb, "unfreeze", HARD_CODED_LR)
    KIT.quiz(nb, q1="C", q3=True)
    out["partial"] = nb
    nb = KIT.solved()  # the BatchNorm trap: frozen weights, statistics still moving
    set_answer(nb, "train-head", NO_KEEP_EVAL)
    out["forgot_keep_eval"] = nb
    return out



if __name__ == "__main__":
    KIT.write(samples(), sys.argv[1:])
