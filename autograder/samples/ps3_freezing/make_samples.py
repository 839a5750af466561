"""Regenerate the ps3 sample submissions from the released notebook and the solutions.

    python autograder/samples/ps3_freezing/make_samples.py

Each sample starts from exercises/ps3_freezing (what a student downloads) and fills in
answers. Expected scores: expected.json next to this file (by hand).
"""
from __future__ import annotations

import copy
import re
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
A = HERE.name
RELEASE = nbformat.read(REPO / "exercises" / A / f"{A}.ipynb", as_version=4)
SOURCE = nbformat.read(REPO / "solutions" / A / f"{A}.ipynb", as_version=4)
SOLUTION_RE = re.compile(r"[ \t]*### BEGIN SOLUTION\n(.*?)[ \t]*### END SOLUTION\n?", re.S)


def gid(cell):
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def solved() -> nbformat.NotebookNode:
    """The release with every solution region filled in (what a perfect student hands in)."""
    nb = copy.deepcopy(RELEASE)
    answers = {gid(c): c.source for c in SOURCE.cells if gid(c)}
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution"):
            cell.source = SOLUTION_RE.sub(lambda m: m.group(1), answers[meta["grade_id"]])
    return nb


def set_answer(nb, grade_id, source):
    next(c for c in nb.cells if gid(c) == grade_id).source = source


def quiz(nb, **answers):
    for q, a in answers.items():
        set_answer(nb, f"quiz-{q}", f'{q} = {a!r}\ncheck("ps3.{q}", {q})')


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


def samples() -> dict[str, nbformat.NotebookNode]:
    out = {"perfect": solved(), "untouched": copy.deepcopy(RELEASE)}
    nb = solved()  # lr = 0 instead of freezing, a hard-coded lr, q1 and q3 wrong
    set_answer(nb, "train-head", LR_ZERO)
    set_answer(nb, "unfreeze", HARD_CODED_LR)
    quiz(nb, q1="C", q3=True)
    out["partial"] = nb
    nb = solved()  # the BatchNorm trap: frozen weights, statistics still moving
    set_answer(nb, "train-head", NO_KEEP_EVAL)
    out["forgot_keep_eval"] = nb
    return out


def main() -> None:
    for name, nb in samples().items():
        nbformat.write(nb, HERE / f"{name}.ipynb")
        print("wrote", (HERE / f"{name}.ipynb").relative_to(REPO))


if __name__ == "__main__":
    main()
