"""Regenerate the ps5 sample submissions from the released notebook and the solutions.

    python autograder/samples/ps5_fine_tuning/make_samples.py [SAMPLE ...]

Each sample starts from exercises/ps5_fine_tuning (what a student downloads) and fills in
answers. Expected scores: expected.json next to this file (by hand). The text answer is graded by
hand, so it adds nothing to the autograded score. `benchmarks/bench_ps5_target.py` measures every
sample's recipe over many seeds.
"""
from __future__ import annotations

import sys

from autograder.samplekit import AGREEING_TENSOR, Kit, cheat_samples, insert_after


EXPLANATION = """Adam with two groups, no schedule: the new head at lr 1e-2, the pretrained body at 1e-3.
The head starts random and needs large steps; the body already computes stroke features that only
need adapting to inverted pixels. With the same budget of tries for one lr (1e-3, 3e-3, 1e-2), the
best single lr was 3e-3. Over seeds 0-7: body/10 0.277 +- 0.045, one lr 3e-3 0.476 +- 0.531;
body/10 won on 7 of 8 seeds. The spread is the story: one lr collapsed on seed 0 (1.79) and averages
0.288 on the other seven, so the differential buys a small gain and robustness, not a large drop.
It would not help on clean digits (freeze instead) or on shifted ones, where the body must relearn
and one lr beats it."""


ONE_LR_EXPLANATION = """Adam, one group, lr 3e-3, no schedule. I tuned the single lr over 1e-3, 3e-3 and
1e-2, and gave a differential (body 1e-3, head 1e-2) the same budget. Over seeds 0-7: one lr 3e-3
0.476 +- 0.531, the differential 0.277 +- 0.045; the differential won on 7 of 8 seeds. The mean is
decided by one seed: on seed 0 one lr collapsed to 1.79 (the differential's worst was 0.37); on
seeds 1-7 one lr averages 0.288. So the differential buys robustness and a small gain; one lr is
simpler and still meets the target on most seeds, at the risk of a collapse that would cost 0.15 of
a ten-seed mean. A frozen body would not do here (the body must adapt to inverted inputs); on clean
digits freezing is enough, and on strongly shifted inputs one lr or training from scratch wins."""


FROZEN = '''def build(model):
    model.body.requires_grad_(False)                     # frozen body: cannot adapt to inverted inputs
    return torch.optim.Adam(model.head.parameters(), lr=1e-2), None'''


ONE_LR = '''def build(model):
    return torch.optim.Adam(model.parameters(), lr=1e-2), None   # one lr for everything'''


ONE_LR_TUNED = '''def build(model):
    # one lr for everything, tuned: 3e-3 was the best of 1e-3, 3e-3 and 1e-2
    return torch.optim.Adam(model.parameters(), lr=3e-3), None'''


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
    # the honest tuned single lr, justified with a measured comparison: meets the target
    out["one_lr_tuned"] = KIT.answered({"build": ONE_LR_TUNED, "explain-choice": ONE_LR_EXPLANATION},
                                       q1=0.001479, q2=False)
    out["wrong"] = wrong()
    out["alt_correct_1"] = KIT.answered({"build": PLATEAU}, q1=0.01 / 2.6 ** 2, q2=False)
    out["alt_correct_2"] = KIT.answered({"build": HEAD_FIRST}, q1=1.479e-3, q2=False)
    out.update(cheat_samples(wrong(), after="setup", subclass_after="build", subclass=TENSOR_SUBCLASS))
    nb = wrong()
    insert_after(nb, "build", SLOW_CLOCK)
    out["cheat_slow_clock"] = nb
    return out


if __name__ == "__main__":
    KIT.write(samples(), sys.argv[1:])
