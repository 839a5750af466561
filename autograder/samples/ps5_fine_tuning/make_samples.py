"""Regenerate the ps5 sample submissions from the released notebook and the solutions.

    python autograder/samples/ps5_fine_tuning/make_samples.py

Each sample starts from exercises/ps5_fine_tuning (what a student downloads) and fills in
answers. Expected scores: expected.json next to this file (by hand). The text answer is graded by
hand, so it adds nothing to the autograded score.
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
        if meta.get("solution") and cell.cell_type == "code":
            cell.source = SOLUTION_RE.sub(lambda m: m.group(1), answers[meta["grade_id"]])
    set_answer(nb, "explain-choice", EXPLANATION)
    return nb


def set_answer(nb, grade_id, source):
    next(c for c in nb.cells if gid(c) == grade_id).source = source


def quiz(nb, **answers):
    for q, a in answers.items():
        set_answer(nb, f"quiz-{q}", f'{q} = {a!r}\ncheck("ps5.{q}", {q})')


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


def samples() -> dict[str, nbformat.NotebookNode]:
    out = {"perfect": solved(), "untouched": copy.deepcopy(RELEASE)}
    nb = solved()   # frozen body: seed 0 passes the visible test, the grading seeds miss the target
    set_answer(nb, "build", FROZEN)
    set_answer(nb, "explain-choice", "I froze the body because freezing is always safest.")
    quiz(nb, q1=0.003846, q2=True)
    out["partial"] = nb
    nb = solved()   # the seed's belief reversed: one lr for the whole model; quiz right
    set_answer(nb, "build", ONE_LR)
    out["one_lr"] = nb
    return out


def main() -> None:
    for name, nb in samples().items():
        nbformat.write(nb, HERE / f"{name}.ipynb")
        print("wrote", (HERE / f"{name}.ipynb").relative_to(REPO))


if __name__ == "__main__":
    main()
