"""``demo``: the whole pipeline on the bundled samples (autograder/samples/), in a temp folder.

release -> collect -> grade -> feedback -> export (the same grading workers, and their fork
servers, for every assignment: ``autograder.grade.Crew``; an assignment's feedback pages are
made while the next one grades), then a summary per assignment
(``autograder.report``) and where everything is. The samples of each assignment are
autograder/samples/<assignment>/*.ipynb (see samples/README.md); by default a *tour* of them
(right, wrong, cheats and attacks: the names in ``TOUR``), with ``every=True`` all of them.
"""
from __future__ import annotations

import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .course import REPO, AutograderError, Course

SAMPLES = REPO / "autograder" / "samples"
# The tour: right in two styles, untouched, partly and wholly wrong, two cheats, edited tests,
# a loop cut by the timeout, a killed kernel, a file that is no notebook, script in feedback,
# a fork bomb, reads of grader files, timm's lr_scale handed to torch. Names an assignment lacks
# are skipped.
TOUR = ("perfect", "alt_correct_1", "untouched", "partial", "wrong", "cheat_builtins",
        "cheat_tensor_subclass", "edited_test", "infinite_loop", "os_exit", "broken_json",
        "script_injection", "fork_bomb", "reads_grader_files", "lr_scale_trap")
TIMEOUT = 10   # seconds per cell: what the samples' expected.json is made for (9 s sleeps pass)


def sample_assignments() -> list[str]:
    return sorted(p.name for p in SAMPLES.iterdir() if p.is_dir() and any(p.glob("*.ipynb")))


def samples(assignment: str, every: bool = False) -> list[Path]:
    """The assignment's sample files: the tour's, or with ``every`` all of them."""
    files = sorted((SAMPLES / assignment).glob("*.ipynb"))
    return files if every else [f for f in files if f.stem in TOUR]


def where(folder: Path, csv: Path, kept: bool) -> str:
    """Where the gradebook, feedback and grades are, or that they are gone and how to keep them."""
    if not kept:
        return ("The gradebook, feedback pages and grades.csv were in a temporary folder, now "
                "deleted:\n`python -m autograder demo --keep DIR` keeps them in DIR (and a "
                "summary.html linking every page).")
    folder = folder.resolve()
    return "\n".join([f"kept in {folder}:",
                      "  gradebook  gradebook.db (nbgrader's; formgrader reads it)",
                      "  feedback   feedback/STUDENT/ASSIGNMENT/ASSIGNMENT.html",
                      f"  grades     {csv.resolve().relative_to(folder)}",
                      "  summary    summary.html (this summary; links every feedback page)"])


def _timed(step, *args) -> float:
    start = time.monotonic()
    step(*args)
    return time.monotonic() - start


def demo(assignments: list[str] | None = None, *, jobs: int = 2, keep: Path | None = None,
         progress: bool = True, timeout: int | None = None, include_solution: bool = False,
         sandbox: bool = True, every: bool = False, details: bool = False,
         say=lambda line: print(line, file=sys.stderr)) -> str:
    from . import report
    from .collect import collect
    from .export import export
    from .feedback import feedback
    from .grade import Crew, check_sandbox, grade
    from .release import sync_gradebook

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
    course = Course(instructor=folder, timeout=timeout or TIMEOUT)
    started = time.monotonic()
    crew = Crew()
    # feedback in a thread of its own: nbgrader changes the working folder while it converts, so
    # the main thread uses absolute paths only and syncs every gradebook before the first page
    pages = ThreadPoolExecutor(max_workers=1)
    try:
        for a in names:
            course.check_assignment(a)
            if not (SAMPLES / a).is_dir():
                raise AutograderError(f"no samples for {a} in {SAMPLES}")
        say(check_sandbox(course, sandbox))          # once, not once per assignment
        for a in names:
            sync_gradebook(course, a)
        made = []
        for a in names:
            start = time.monotonic()
            staged = course.instructor / "downloads" / a
            staged.mkdir(parents=True)
            for f in samples(a, every):
                shutil.copy(f, staged / f.name)
            if include_solution:  # the instructor's own notebook, handed in as student "_solution"
                shutil.copy(course.source / a / f"{a}.ipynb", staged / "_solution.ipynb")
            collect(course, a, staged, quiet=True)
            grade(course, a, jobs=jobs, progress=progress, sandbox=sandbox, crew=crew,
                  say=lambda _: None)
            # a student it makes no page for: printed, flagged in the table
            made.append((a, time.monotonic() - start, pages.submit(_timed, feedback, course, a)))
        parts = []
        for a, seconds, feedback_seconds in made:
            auto, manual = report.points(course.source_notebooks(a))
            parts.append(report.Assignment(
                a, [], auto, manual, report.pending_manual(course, a),
                seconds=seconds + feedback_seconds.result(),
                samples=len(samples(a, every=True)) + include_solution))
        out, data = export(course)
        for part in parts:
            part.rows = [r for r in data if r["assignment"] == part.name]
        (folder / "summary.html").write_text(report.page(
            parts, lambda s, a: (course.step("feedback") / s / a / f"{a}.html").is_file()),
            encoding="utf-8")
        graded = sum(len(p.rows) for p in parts)
        total = sum(p.samples for p in parts)
        took = report.duration(time.monotonic() - started)
        hints = [f"{graded} submissions of {len(parts)} assignments graded in {took}." if
                 graded == total else f"A tour of {graded} of the {total} samples graded in "
                                      f"{took}; --all grades every one."]
        hints += [] if details else ["--details prints every student's score, status and flags."]
        return "\n\n".join([report.text(parts, details_too=details), "\n".join(hints),
                            where(folder, out, kept=keep is not None)])
    finally:
        pages.shutdown(cancel_futures=True)
        crew.close()
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
