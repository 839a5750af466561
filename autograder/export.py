"""``export``: one CSV row per student and assignment, with status and flags.

Scores come from the gradebook (so manual grades from formgrader count). Each row is checked
against the ledger (``autograder.record``): an autograded score or a result file that differs
from what grading recorded, a gradebook entry no grading produced, or a broken ledger chain is
flagged, never published silently; so is a student ``feedback`` could make no page for.
``status`` is ``graded``, ``needs manual grading`` (an answer still waits for a grader in
formgrader) or ``not graded`` (the reason is in ``flags``). Flags are printable text: control
characters (ANSI escapes, say) are shown escaped.
"""
from __future__ import annotations

import csv
from pathlib import Path

from . import record
from .course import AutograderError, Course
from .record import GRADED, NEEDS_MANUAL, Result

COLUMNS = ("student", "assignment", "score", "max_score", "status", "flagged", "flags")


def printable(text: str) -> str:
    """``text`` with every control character but none written as an escape (``\\x1b``)."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
                   for c in str(text))


def _same(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(float(a) - float(b)) <= 1e-9


def _checks(sub, recorded: dict | None, result: Result | None) -> list[str]:
    """Differences between the gradebook, the result file and the ledger for one submission."""
    if recorded is None:
        return ["no grading record for this gradebook entry (graded outside the autograder?)"]
    flags = []
    if recorded.get("status") != GRADED:
        flags.append("the gradebook has scores grading did not produce (grading recorded "
                     f"'{recorded.get('status')}')")
    cells = recorded.get("cells") or {}
    for nb in sub.notebooks:
        for g in nb.grades:
            if g.name not in cells:
                continue
            if not _same(g.auto_score, cells[g.name]):
                flags.append(f"{g.name}: gradebook auto score {g.auto_score} differs from "
                             f"grading's {cells[g.name]}")
            if g.manual_score is not None and g.auto_score is not None \
                    and not _same(g.manual_score, g.auto_score):
                flags.append(f"{g.name}: manual score {g.manual_score:g} replaces grading's "
                             f"{g.auto_score:g}")
    if result is not None and result.fingerprint() != recorded:
        flags.append("the result file differs from the grading record")
    return flags


def rows(course: Course) -> list[dict]:
    from nbgrader.api import Gradebook

    if not course.gradebook.exists():
        raise AutograderError(f"no grades in {course.instructor} (run grade first)")
    out = []
    with Gradebook(course.db_url, course.course_id) as gb:
        for a in sorted(gb.assignments, key=lambda a: a.name):
            assignment = a.name
            ledger, problems = record.read(course.instructor, assignment)
            files = {}
            for path in sorted((course.step("flags") / assignment).glob("*.json")):
                r = Result.load(path)
                files[r.student] = r
            submissions = {s.student.id: s for s in a.submissions}
            for student in sorted(set(submissions) | set(ledger) | set(files)):
                recorded, result = ledger.get(student), files.get(student)
                base = result or (Result(**recorded) if recorded else None)
                flags = list(base.flags) if base else []
                status = base.status if base else GRADED
                sub = submissions.get(student)
                if sub is not None:
                    score, max_score = float(sub.score), float(sub.max_score)
                    flags += _checks(sub, recorded, result)
                    if sub.needs_manual_grade and status == GRADED:
                        status = NEEDS_MANUAL
                else:
                    score = 0.0
                    max_score = base.max_score if base else 0.0
                    if status == GRADED:
                        flags.append("graded, but the gradebook has no scores for it")
                problem = record.feedback_problem_path(course.instructor, assignment, student)
                if problem.exists():
                    flags.append(f"no feedback: {problem.read_text(encoding='utf-8').strip()}")
                flags += problems
                out.append({"student": student, "assignment": assignment, "score": f"{score:g}",
                            "max_score": f"{max_score:g}", "status": status,
                            "flagged": "yes" if flags else "no",
                            "flags": printable("; ".join(flags))})
    return out


def export(course: Course, out: Path | None = None) -> tuple[Path, list[dict]]:
    data = rows(course)
    out = Path(out) if out else course.instructor / "grades.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(data)
    return out, data
