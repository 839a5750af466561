"""``release``: regenerate ``exercises/`` from ``solutions/`` with nbgrader generate_assignment."""
from __future__ import annotations

import shutil
from pathlib import Path

from .course import AutograderError, Course


def generate(course: Course, assignment: str, release_to: Path | None = None) -> Path:
    """Run nbgrader generate_assignment (this also records the assignment in the gradebook)."""
    course.check_assignment(assignment)
    course.instructor.mkdir(parents=True, exist_ok=True)
    target = (release_to or course.release) / assignment
    result = course.api(release_to=release_to).generate_assignment(assignment, force=True,
                                                                    create=True)
    if not result["success"]:
        raise AutograderError(f"nbgrader could not release {assignment}: "
                              + _last_error(result))
    return target


def _last_error(result: dict) -> str:
    text = (result.get("error") or "") + "\n" + (result.get("log") or "")
    lines = [l for l in text.splitlines() if l.strip()]
    errors = [l for l in lines if "[ERROR]" in l or "Error" in l]
    return (errors or lines or ["no details"])[-1].strip()


def _fingerprint(course: Course, assignment: str) -> str:
    import hashlib
    h = hashlib.sha256()
    for path in sorted((course.source / assignment).rglob("*")):
        if path.is_file() and ".ipynb_checkpoints" not in path.parts:
            h.update(str(path.relative_to(course.source)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def sync_gradebook(course: Course, assignment: str) -> None:
    """Put the current solutions/ (cells, points, hidden tests) into the gradebook, releasing
    into a scratch folder so that grading never rewrites exercises/. Skipped when the source
    has not changed since the last sync."""
    scratch = course.step(".release")
    stamp = scratch / f"{assignment}.sha256"
    now = _fingerprint(course, assignment)
    if course.gradebook.exists() and stamp.exists() and stamp.read_text() == now:
        return
    generate(course, assignment, release_to=scratch)
    stamp.write_text(now)


def release(course: Course, assignments: list[str]) -> list[Path]:
    out = []
    for a in assignments:
        out.append(generate(course, a))
    return out


def remove_scratch(course: Course) -> None:
    shutil.rmtree(course.step(".release"), ignore_errors=True)
