"""Regenerate the ps2 sample submissions from the released notebook and the solutions.

    python autograder/samples/ps2_default_lr/make_samples.py

Each sample starts from exercises/ps2_default_lr (what a student downloads) and fills in
answers. Expected scores: expected.json next to this file (by hand).
"""
from __future__ import annotations

import sys

from autograder.samplekit import Kit, set_answer


HALF_FIXED_B = '''def fixed_b(model):
    body = list(model.body.parameters())      # the generator is fixed...
    print("body tensors:", len(body))
    return torch.optim.Adam([{"params": body, "lr": 1e-4}], lr=1e-3)   # ...the head is still left out'''


TYPO_ONLY_C = '''def fixed_c(model):
    decay = [p for n, p in model.named_parameters() if "weight" in n]   # BatchNorm weights too
    no_decay = [p for n, p in model.named_parameters() if "bias" in n]
    return torch.optim.SGD([{"params": decay, "weight_decay": 1e-3},
                            {"params": no_decay}], lr=0.05, momentum=0.9)'''


SCALAR_CYCLE = '''def make_one_cycle(optimizer, total_steps):
    return OneCycleLR(optimizer, max_lr=0.1, total_steps=total_steps)'''


LRS_BEFORE_LOAD = '''def resume(checkpoint, body_lr, head_lr):
    model = mlp(hidden=(32, 32))
    model.load_state_dict(checkpoint["model"])
    optimizer = make_optimizer(model, body_lr, head_lr)   # the new lrs...
    optimizer.load_state_dict(checkpoint["optimizer"])    # ...overwritten by the saved ones
    return model, optimizer'''


KIT = Kit("ps2_default_lr")


def samples() -> dict[str, nbformat.NotebookNode]:
    out = {"perfect": KIT.solved(), "untouched": KIT.untouched()}
    nb = KIT.solved()  # right: q1, 2a, the audit part of 2c, q4; wrong: the rest
    KIT.quiz(nb, q2=0.001, q3=0.01)          # SGD's default; the misspelled key's value
    set_answer(nb, "fixed-b", HALF_FIXED_B)
    set_answer(nb, "fixed-c", TYPO_ONLY_C)
    set_answer(nb, "one-cycle", SCALAR_CYCLE)
    set_answer(nb, "resume", LRS_BEFORE_LOAD)
    out["partial"] = nb
    return out



if __name__ == "__main__":
    KIT.write(samples(), sys.argv[1:])
