"""Regenerate the ps4 sample submissions from the released notebook and the solutions.

    python autograder/samples/ps4_loss_curves/make_samples.py

Each sample starts from exercises/ps4_loss_curves (what a student downloads) and fills in
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
    set_answer(nb, "explain-answer", EXPLANATION)
    return nb


def set_answer(nb, grade_id, source):
    next(c for c in nb.cells if gid(c) == grade_id).source = source


def quiz(nb, **answers):
    for q, a in answers.items():
        set_answer(nb, f"quiz-{q}", f'{q} = {a!r}\ncheck("ps4.{q}", {q})')


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


def samples() -> dict[str, nbformat.NotebookNode]:
    out = {"perfect": solved(), "untouched": copy.deepcopy(RELEASE)}
    nb = solved()
    set_answer(nb, "my-diagnose", GAP_ONLY)
    set_answer(nb, "leaked-rows", COUNT_ONLY)
    set_answer(nb, "explain-answer", "The learning rates are too high in some layers; lower them.")
    quiz(nb, q1="A")
    out["partial"] = nb
    return out


def main() -> None:
    for name, nb in samples().items():
        nbformat.write(nb, HERE / f"{name}.ipynb")
        print("wrote", (HERE / f"{name}.ipynb").relative_to(REPO))


if __name__ == "__main__":
    main()
