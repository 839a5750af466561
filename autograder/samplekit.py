"""Build sample submissions: the released notebook, solved from the source, then changed.

Each ``autograder/samples/<assignment>/make_samples.py`` (and ``make_ps1_samples.py``) uses a
``Kit`` to write what a student would hand in; expected scores stay in ``expected.json``.
"""
from __future__ import annotations

import copy
import re

import nbformat

from .course import REPO

SOLUTION_RE = re.compile(r"[ \t]*### BEGIN SOLUTION\n(.*?)[ \t]*### END SOLUTION\n?", re.S)


def grade_id(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def cell(nb, gid: str):
    """The cell with nbgrader grade id ``gid``."""
    return next(c for c in nb.cells if grade_id(c) == gid)


def set_answer(nb, gid: str, source: str) -> None:
    cell(nb, gid).source = source


def insert_after(nb, gid: str, source: str) -> None:
    """A new code cell (the student's own) right after cell ``gid``."""
    i = next(i for i, c in enumerate(nb.cells) if grade_id(c) == gid)
    nb.cells.insert(i + 1, nbformat.v4.new_code_cell(source))


class Kit:
    """Samples of one assignment: ``untouched()``, ``solved()``, ``quiz(nb, q1=...)``, ``write()``."""

    def __init__(self, assignment: str, written_answers: dict[str, str] | None = None):
        self.assignment = assignment
        self.folder = REPO / "autograder" / "samples" / assignment
        self.release = nbformat.read(REPO / "exercises" / assignment / f"{assignment}.ipynb", as_version=4)
        self.source = nbformat.read(REPO / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
        self.written_answers = written_answers or {}

    def untouched(self) -> nbformat.NotebookNode:
        return copy.deepcopy(self.release)

    def solved(self) -> nbformat.NotebookNode:
        """The release with every code solution filled in and the written answers given."""
        nb = self.untouched()
        answers = {grade_id(c): c.source for c in self.source.cells if grade_id(c)}
        for c in nb.cells:
            meta = c.get("metadata", {}).get("nbgrader", {})
            if meta.get("solution") and c.cell_type == "code":
                c.source = SOLUTION_RE.sub(lambda m: m.group(1), answers[meta["grade_id"]])
        for gid, text in self.written_answers.items():
            set_answer(nb, gid, text)
        return nb

    def quiz(self, nb, **answers) -> None:
        """Set quiz answers the way a student does: ``q1 = 'B'`` then the self-check."""
        prefix = self.assignment.split("_")[0]
        for q, a in answers.items():
            set_answer(nb, f"quiz-{q}", f'{q} = {a!r}\ncheck("{prefix}.{q}", {q})')

    def write(self, samples: dict, only: list[str] | None = None) -> None:
        """Write each sample (a notebook, or raw text for a broken file) as ``<name>.ipynb``."""
        self.folder.mkdir(parents=True, exist_ok=True)
        for name, nb in samples.items():
            if only and name not in only:
                continue
            path = self.folder / f"{name}.ipynb"
            if isinstance(nb, str):
                path.write_text(nb)
            else:
                nbformat.write(nb, path)
            print("wrote", path.relative_to(REPO))
