"""``feedback``: one HTML page per student, with hidden tests and answer keys redacted.

nbgrader's generate_feedback renders the autograded notebook, whose test cells hold the hidden
tests again; the ``RedactHidden`` preprocessor (autograder.preprocessors) replaces them and cuts
tracebacks to one line. As a last line of defence every page is checked for the text of every
hidden-test line before it is kept: a page that would leak is deleted and reported.
"""
from __future__ import annotations

from pathlib import Path

import nbformat

from .course import AutograderError, Course
from .preprocessors import HIDDEN_BEGIN, HIDDEN_END


def hidden_lines(course: Course, assignment: str) -> list[str]:
    """Every non-trivial line inside a hidden-test region of the assignment's source that does
    not also appear outside the hidden regions (those are visible to students anyway)."""
    hidden, visible = [], set()
    for name in course.notebooks(assignment):
        nb = nbformat.read(course.source / assignment / f"{name}.ipynb", as_version=4)
        for cell in nb.cells:
            inside = False
            for line in cell.source.splitlines():
                s = line.strip()
                if HIDDEN_BEGIN in s:
                    inside = True
                elif HIDDEN_END in s:
                    inside = False
                elif inside:
                    if len(s) >= 12 and not s.startswith("#"):
                        hidden.append(s)
                else:
                    visible.add(s)
    return [s for s in hidden if s not in visible]


def leaks(html: str, lines: list[str]) -> list[str]:
    import html as html_mod
    import re
    text = html_mod.unescape(re.sub(r"<[^>]+>", "", html))
    text = re.sub(r"\s+", " ", text)
    return [l for l in lines if re.sub(r"\s+", " ", l) in text]


def feedback(course: Course, assignment: str, students: list[str] | None = None) -> list[Path]:
    from .grade import GRADED, Result, flags_path

    graded = []
    for s in students or course.students(assignment):
        path = flags_path(course, assignment, s)
        if path.exists() and Result.load(path).status == GRADED:
            graded.append(s)
        elif students:
            raise AutograderError(f"{s} has no graded submission of {assignment} (run grade first)")
    if not graded:
        raise AutograderError(f"nothing graded for {assignment} yet (run grade first)")
    api = course.api()
    secret = hidden_lines(course, assignment)
    out = []
    for s in graded:
        result = api.generate_feedback(assignment, s, force=True)
        if not result["success"]:
            print(f"no feedback for {s}: nbgrader failed")
            continue
        for html in sorted((course.step("feedback") / s / assignment).glob("*.html")):
            found = leaks(html.read_text(encoding="utf-8", errors="replace"), secret)
            if found:
                html.unlink()
                raise AutograderError(f"feedback for {s} would show hidden test lines "
                                      f"({found[0]!r}); deleted it")
            out.append(html)
    return out
