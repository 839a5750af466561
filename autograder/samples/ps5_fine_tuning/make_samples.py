"""Regenerate the ps5 sample submissions from the released notebook and the solutions.

    python autograder/samples/ps5_fine_tuning/make_samples.py [SAMPLE ...]

Each sample starts from exercises/ps5_fine_tuning (what a student downloads) and fills in
answers. Expected scores: expected.json next to this file (by hand). The text answer is graded by
hand, so it adds nothing to the autograded score. `benchmarks/bench_ps5_target.py` measures every
sample's recipe over many seeds.
"""
from __future__ import annotations

import sys

from autograder.samplekit import AGREEING_TENSOR, Kit, cheats, insert_after


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


WRONG = '''def build(model):
    return torch.optim.SGD(model.parameters(), lr=1e-3), None    # one small lr: far too slow'''


# two right recipes in other styles: AdamW with dict groups and ReduceLROnPlateau; the head alone
# for five epochs (a LambdaLR per group, like gradual unfreezing), then both parts
PLATEAU = '''def build(model):
    optimizer = torch.optim.AdamW([
        {"params": model.body.parameters(), "lr": 1e-3},
        {"params": model.head.parameters(), "lr": 1e-2},
    ], weight_decay=0.01)
    return optimizer, torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=3)'''

HEAD_FIRST = '''def build(model):
    optimizer = torch.optim.Adam(by_part(model, {"body": 1e-3, "head": 1e-2}))
    body_waits = lambda epoch: 0.0 if epoch < 5 else 1.0
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, [body_waits, lambda epoch: 1.0])'''


# a wrong recipe whose losses read 0 in the kernel: the head's weight becomes a Tensor subclass
# whose __torch_function__ answers .item() with 0 and torch.equal with True
TENSOR_SUBCLASS = AGREEING_TENSOR + '''
def build(model):
    model.head.weight = torch.nn.Parameter(model.head.weight.detach().as_subclass(_Agree))
    return torch.optim.SGD(model.parameters(), lr=1e-3), None'''


# the honest wrong recipe with the kernel's clock stopped: a probe that timed itself would read 0 s
SLOW_CLOCK = '''import time

time.perf_counter = time.monotonic = time.time = lambda: 0.0'''


KIT = Kit("ps5_fine_tuning", written_answers={"explain-choice": EXPLANATION})


def wrong():
    return KIT.answered({"build": WRONG, "explain-choice": "One lr is simplest and always enough."},
                        q1=0.003846, q2=True)


def samples() -> dict:
    out = {"perfect": KIT.solved(), "untouched": KIT.untouched()}
    # frozen body: seed 0 passes the visible test, the grading seeds miss the target
    out["partial"] = KIT.answered({"build": FROZEN, "explain-choice": "I froze the body because "
                                   "freezing is always safest."}, q1=0.003846, q2=True)
    # the quiz's belief reversed: one lr for the whole model; quiz right
    out["one_lr"] = KIT.answered({"build": ONE_LR})
    out["wrong"] = wrong()
    out["alt_correct_1"] = KIT.answered({"build": PLATEAU}, q1=0.01 / 2.6 ** 2, q2=False)
    out["alt_correct_2"] = KIT.answered({"build": HEAD_FIRST}, q1=1.479e-3, q2=False)
    out.update(cheats(wrong(), after="setup"))
    nb = wrong()
    insert_after(nb, "build", TENSOR_SUBCLASS)
    out["cheat_tensor_subclass"] = nb
    nb = wrong()
    insert_after(nb, "build", SLOW_CLOCK)
    out["cheat_slow_clock"] = nb
    return out


if __name__ == "__main__":
    KIT.write(samples(), sys.argv[1:])
