"""Build sample submissions: the released notebook, solved from the source, then changed.

Each ``autograder/samples/<assignment>/make_samples.py`` (and ``make_ps1_samples.py``) uses a
``Kit`` to write what a student would hand in; expected scores stay in ``expected.json``.
"""
from __future__ import annotations

import base64
import copy
import hashlib
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


def insert_after(nb, gid: str, source: str, *, markdown: bool = False) -> None:
    """A new code (or markdown) cell, the student's own, right after cell ``gid``."""
    i = next(i for i, c in enumerate(nb.cells) if grade_id(c) == gid)
    cell_id = hashlib.sha1(f"{gid}\n{source}".encode()).hexdigest()[:8]   # the same on every regeneration
    new = nbformat.v4.new_markdown_cell if markdown else nbformat.v4.new_code_cell
    nb.cells.insert(i + 1, new(source, id=cell_id))


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

    def answered(self, answers: dict[str, str], **quiz) -> nbformat.NotebookNode:
        """The solved release with the cells ``answers`` (grade id -> source) and quiz answers set."""
        nb = self.solved()
        for gid, source in answers.items():
            set_answer(nb, gid, source)
        self.quiz(nb, **quiz)
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


# --- in-kernel cheats -------------------------------------------------------------------------
# Each is a student cell that tries to make failing tests pass inside the kernel. Put after the
# setup cell of a notebook with WRONG answers, each must score no more than those answers do.
_SWALLOW = '''ip = get_ipython()
def _swallow(lines):
    return ["try:\\n"] + ["    " + l for l in lines] + ["\\nexcept BaseException:\\n    pass\\n"]
getattr(ip, "input_transformers" + "_" + "cleanup").append(_swallow)
'''
CHEATS = {
    "cheat_input_transformer": "# wrap every later cell in try/except, registered under a computed name\n"
                               + _SWALLOW,
    "cheat_post_run_cell": '''# clear the error a test raised, after the fact
def _forgive(result):
    result.error_in_exec = None
    result.error_before_exec = None
get_ipython().events.register("post_run_cell", _forgive)
get_ipython().showtraceback = lambda *a, **k: None''',
    "cheat_time_magic": "%%time\n# the same transformer, hidden in a %%time cell\n" + _SWALLOW,
    "cheat_run_cell": ("# the same transformer, decoded and run with run_cell\nimport base64\n"
                       f"get_ipython().run_cell(base64.b64decode({base64.b64encode(_SWALLOW.encode())!r}).decode())"),
    "cheat_settrace": '''# a tracer that jumps over every assert
import sys, threading, linecache
def _skip_asserts(frame, event, arg):
    if event == "line":
        line = linecache.getline(frame.f_code.co_filename, frame.f_lineno).strip()
        if line.startswith("assert"):
            try:
                frame.f_lineno = frame.f_lineno + 1
            except ValueError:
                pass
    return _skip_asserts
sys.settrace(_skip_asserts)
threading.settrace(_skip_asserts)''',
    "cheat_builtins": '''# rebind what a test might call: in the user namespace and in the types themselves
import builtins

class _Yes(builtins.str):
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    __hash__ = builtins.str.__hash__
    def upper(self): return self
    def strip(self): return self
str = lambda *a, **k: _Yes("B")
float = lambda *a, **k: 0.0
type = lambda *a, **k: object
torch.Tensor.__eq__ = lambda self, other: True
torch.Tensor.equal = lambda self, other: True''',
    "cheat_module_alias": '''# patch torch through an alias
t = torch
t.equal = lambda *a, **k: True
t.allclose = lambda *a, **k: True
t.Tensor.abs = lambda self: t.zeros_like(self)
t.Tensor.item = lambda self: 0.0''',
}


# A student cell defining a torch.Tensor subclass that agrees with every in-kernel check: each
# exercise's own tensor-subclass cheat plants it where its tests look.
AGREEING_TENSOR = '''class _Agree(torch.Tensor):
    """.item() says 0 and torch.equal says True, whatever the values."""
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if func is torch.Tensor.item:
            return 0.0
        if func is torch.equal:
            return True
        return super().__torch_function__(func, types, args, kwargs or {})
'''


def cheats(nb, after: str = "setup-imports") -> dict[str, nbformat.NotebookNode]:
    """One sample per in-kernel cheat: ``nb`` (wrong answers) with the cheat cell after ``after``."""
    out = {}
    for name, source in CHEATS.items():
        sample = copy.deepcopy(nb)
        insert_after(sample, after, source)
        out[name] = sample
    return out


def cheat_samples(wrong: nbformat.NotebookNode, *, after: str, subclass_after: str,
                  subclass: str) -> dict[str, nbformat.NotebookNode]:
    """Every cheat an assignment needs (tests/test_cheats.py): ``cheats(wrong, after)`` and
    ``cheat_tensor_subclass``, ``wrong`` with the ``subclass`` cell after ``subclass_after``."""
    out = cheats(wrong, after)
    sample = copy.deepcopy(wrong)
    insert_after(sample, subclass_after, subclass)
    out["cheat_tensor_subclass"] = sample
    return out
