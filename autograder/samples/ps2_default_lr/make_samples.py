"""Regenerate the ps2 sample submissions from the released notebook and the solutions.

    python autograder/samples/ps2_default_lr/make_samples.py

Each sample starts from exercises/ps2_default_lr (what a student downloads) and fills in
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
        set_answer(nb, f"quiz-{q}", f'{q} = {a!r}\ncheck("ps2.{q}", {q})')


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


def samples() -> dict[str, nbformat.NotebookNode]:
    out = {"perfect": solved(), "untouched": copy.deepcopy(RELEASE)}
    nb = solved()  # right: q1, 2a, the audit part of 2c, q4; wrong: the rest
    quiz(nb, q2=0.001, q3=0.01)          # SGD's default; the misspelled key's value
    set_answer(nb, "fixed-b", HALF_FIXED_B)
    set_answer(nb, "fixed-c", TYPO_ONLY_C)
    set_answer(nb, "one-cycle", SCALAR_CYCLE)
    set_answer(nb, "resume", LRS_BEFORE_LOAD)
    out["partial"] = nb
    return out


def main() -> None:
    for name, nb in samples().items():
        nbformat.write(nb, HERE / f"{name}.ipynb")
        print("wrote", (HERE / f"{name}.ipynb").relative_to(REPO))


if __name__ == "__main__":
    main()
