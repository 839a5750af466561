"""``export``: one CSV row per student and assignment, with status and flags.

Scores come from the gradebook (so tampering penalties are included); students whose
notebook could not be graded (invalid JSON, killed kernel) are listed with 0 and the reason,
where nbgrader's own CSV shows an unexplained 0 or leaves them out.
"""
from __future__ import annotations

import csv
from pathlib import Path

from .course import AutograderError, Course
from .grade import Result

COLUMNS = ("student", "assignment", "score", "max_score", "status", "flagged", "flags")


def rows(course: Course) -> list[dict]:
    from nbgrader.api import Gradebook, MissingEntry

    out = []
    flags_dir = course.step("flags")
    results = {}
    if flags_dir.is_dir():
        for path in sorted(flags_dir.glob("*/*.json")):
            r = Result.load(path)
            results[(r.student, r.assignment)] = r
    if not results and not course.gradebook.exists():
        raise AutograderError(f"no grades in {course.instructor} (run grade first)")
    with Gradebook(course.db_url, course.course_id) as gb:
        for a in gb.assignments:
            for sub in a.submissions:
                results.setdefault((sub.student.id, a.name), Result(sub.student.id, a.name,
                                                                      status="graded"))
        for (student, assignment), r in sorted(results.items()):
            score, max_score = r.score, r.max_score
            try:
                sub = gb.find_submission(assignment, student)
                score, max_score = float(sub.score), float(sub.max_score)
            except MissingEntry:
                score = 0.0
            out.append({"student": student, "assignment": assignment, "score": f"{score:g}",
                        "max_score": f"{max_score:g}", "status": r.status,
                        "flagged": "yes" if r.flags else "no", "flags": "; ".join(r.flags)})
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
