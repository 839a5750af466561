"""``demo``: the whole pipeline on the bundled samples (autograder/samples/), in a temp folder.

release -> collect -> grade -> feedback -> export, then the gradebook table. The samples of
each assignment are autograder/samples/<assignment>/*.ipynb (see samples/README.md).
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from .course import REPO, AutograderError, Course

SAMPLES = REPO / "autograder" / "samples"


def sample_assignments() -> list[str]:
    return sorted(p.name for p in SAMPLES.iterdir() if p.is_dir() and any(p.glob("*.ipynb")))


def demo(assignments: list[str] | None = None, *, jobs: int = 2, keep: Path | None = None,
         progress: bool = True, timeout: int | None = None,
         include_solution: bool = False, sandbox: bool = True) -> str:
    from .collect import collect
    from .export import export
    from .feedback import feedback
    from .grade import grade, table

    names = assignments or sample_assignments()
    if not names:
        raise AutograderError(f"no sample submissions under {SAMPLES}")
    tmp = None
    if keep is None:
        tmp = tempfile.mkdtemp(prefix="lrlab-demo-")
        folder = Path(tmp)
    else:
        folder = Path(keep)
        if folder.exists() and any(folder.iterdir()):
            raise AutograderError(f"{folder} is not empty: give --keep an empty or new folder")
    course = Course(instructor=folder, **({"timeout": timeout} if timeout else {}))
    try:
        for a in names:
            course.check_assignment(a)
            if not (SAMPLES / a).is_dir():
                raise AutograderError(f"no samples for {a} in {SAMPLES}")
            staged = folder / "downloads" / a
            staged.mkdir(parents=True)
            for f in sorted((SAMPLES / a).glob("*.ipynb")):
                shutil.copy(f, staged / f.name)
            if include_solution:  # the instructor's own notebook, handed in as student "_solution"
                shutil.copy(course.source / a / f"{a}.ipynb", staged / "_solution.ipynb")
            collect(course, a, staged, quiet=True)
            grade(course, a, jobs=jobs, progress=progress, sandbox=sandbox)
            feedback(course, a)      # a student it makes no page for: printed, flagged in the table
        out, data = export(course)
        rows = [(r["student"], r["assignment"], f"{r['score']}/{r['max_score']}", r["status"],
                 r["flags"] or "-") for r in data]
        text = table(rows, ("student", "assignment", "score", "status", "flags"))
        where = f"\n(instructor folder kept: {folder}; grades: {out})" if keep else ""
        return text + where
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
