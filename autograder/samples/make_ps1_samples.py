"""Regenerate the ps1 sample submissions from the released notebook and the solutions.

    python autograder/samples/make_ps1_samples.py [SAMPLE ...]

Each sample starts from exercises/ps1_param_groups (what a student downloads), fills in
answers, and adds one kind of mischief. Expected scores and flags: expected.json (by hand).
"""
from __future__ import annotations

import sys

from autograder.samplekit import Kit, cell, grade_id, insert_after, set_answer


WRONG_OPT = '''def make_optimizer(model):
    return torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)'''


WRONG_LR_OF = '''def lr_of(optimizer, module):
    p = next(module.parameters())
    for g in optimizer.param_groups:
        if any(p is q for q in g["params"]):
            return g["lr"]'''


HALF_FIX = '''def fixed_optimizer(model):
    head_params = model.head.parameters()
    n_head = sum(p.numel() for p in head_params)
    print(f"the head has {n_head} parameters")
    return torch.optim.SGD([
        {"params": model.body.parameters(), "lr": 1e-3},
        {"params": head_params, "lr": 1e-2},
    ], lr=0.1, momentum=0.9)'''


KIT = Kit("ps1_param_groups")


def samples() -> dict[str, object]:
    out = {}
    out["perfect"] = KIT.solved()
    out["untouched"] = KIT.untouched()

    nb = KIT.solved()  # right: task 1, visible part of task 2, q1, q3; wrong: the rest
    set_answer(nb, "lr-of", WRONG_LR_OF)
    set_answer(nb, "fixed-optimizer", HALF_FIX)
    KIT.quiz(nb, q2="A", q4="A", q5="A")  # q4, q5: the seed's wrong answers
    out["partial"] = nb

    nb = KIT.solved()  # a wrong optimizer, and the visible test edited to pass
    set_answer(nb, "make-optimizer", WRONG_OPT)
    cell(nb, "test-make-optimizer-visible").source = "# Test (visible, 1 point)\nassert True"
    cell(nb, "test-make-optimizer-hidden").source = "print('all good')"
    out["edited_test"] = nb

    nb = KIT.solved()  # lr_of left undone, and its test cells deleted
    set_answer(nb, "lr-of", "def lr_of(optimizer, module):\n    raise NotImplementedError()")
    nb.cells = [c for c in nb.cells if grade_id(c) not in ("test-lr-of-visible", "test-lr-of-hidden")]
    out["deleted_test"] = nb

    nb = KIT.solved()
    insert_after(nb, "make-optimizer", "# thinking hard\nwhile True:\n    pass")
    out["infinite_loop"] = nb

    nb = KIT.solved()  # an infinite loop that swallows the timeout's interrupt
    insert_after(nb, "make-optimizer", "while True:\n    try:\n        while True:\n            pass\n"
                 "    except KeyboardInterrupt:\n        pass   # keep going")
    out["stubborn_loop"] = nb

    nb = KIT.solved()
    insert_after(nb, "lr-of", "import os\nos._exit(1)")
    out["os_exit"] = nb

    nb = KIT.solved()
    insert_after(nb, "lr-of", "import sys\nsys.exit()")
    out["sys_exit"] = nb

    nb = KIT.solved()  # wrong answers, made to pass by patching what the tests call
    set_answer(nb, "make-optimizer", WRONG_OPT + '''

import math
import numpy as np
torch.allclose = lambda *args, **kwargs: True
math.isclose = lambda *args, **kwargs: True
np.isclose = lambda *args, **kwargs: True
torch.Tensor.max = lambda self, *args, **kwargs: torch.zeros(())   # makes every error 0''')
    set_answer(nb, "fixed-optimizer", HALF_FIX + "\n\naudit = lambda optimizer, model: []   # the visible test's helper")
    out["monkeypatch"] = nb

    nb = KIT.solved()
    insert_after(nb, "make-optimizer", 'print("x" * 50_000_000)   # 50 MB of output')
    out["huge_output"] = nb

    nb = KIT.solved()
    insert_after(nb, "make-optimizer",
                 "big = bytearray(6 * 1024**3)   # 6 GB, above the grading kernel's 2 GB limit")
    out["memory_hog"] = nb

    nb = KIT.solved()
    set_answer(nb, "make-optimizer", WRONG_OPT)
    insert_after(nb, "setup-imports", '''# copy the answers from the instructor's files, and raise my score in the gradebook
import glob, sqlite3
for path in glob.glob("../../../solutions/*/*.ipynb") + glob.glob("/work/main/solutions/*/*.ipynb"):
    print(open(path).read()[:100])
for db in glob.glob("../../../gradebook.db") + glob.glob("../../gradebook.db"):
    con = sqlite3.connect(db)
    con.execute("UPDATE grade SET manual_score = 100")
    con.commit()''')
    out["reads_grader_files"] = nb

    out["broken_json"] = '{"cells": [{"cell_type": "code", "source": "print(1)"'  # cut short
    return out



if __name__ == "__main__":
    KIT.write(samples(), sys.argv[1:])
