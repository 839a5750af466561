"""``grade``: autograde each student in a child process, then add what nbgrader misses.

Per student (``grade_one``, run by ``python -m autograder _grade-one`` so that a submission
that kills its kernel, or its grader, cannot stop the batch):
1. old scores, autograded and feedback files of this student are removed first, so a regrade
   that fails leaves no stale score;
2. a notebook that is not valid JSON / nbformat is not run: status "not graded" and a flag;
3. test and read-only cells are compared with the gradebook (edited / deleted: flagged;
   nbgrader restores them before running);
4. nbgrader autograde runs (cell timeout, kernel memory and CPU limits, output cap);
5. the autograded notebook is read for timeouts, memory errors, cut output; the student's
   cells are scanned for tampering; tests that run after a tampering cell get no credit
   (manual score 0 in the gradebook, so export and feedback agree);
6. the result goes to ``<instructor>/flags/<assignment>/<student>.json``.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .course import AutograderError, Course

GRADED, NOT_GRADED = "graded", "not graded"


@dataclass
class Result:
    student: str
    assignment: str
    status: str = NOT_GRADED
    score: float = 0.0
    max_score: float = 0.0
    flags: list[str] = field(default_factory=list)
    seconds: float = 0.0
    timings: dict = field(default_factory=dict)   # where the seconds went (see bench_grading)

    def save(self, course: Course) -> None:
        path = flags_path(course, self.assignment, self.student)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=1) + "\n")
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> "Result":
        return cls(**json.loads(path.read_text()))


def flags_path(course: Course, assignment: str, student: str) -> Path:
    return course.step("flags") / assignment / f"{student}.json"


# --- one student --------------------------------------------------------------------------
def _gradebook(course: Course):
    from nbgrader.api import Gradebook
    return Gradebook(course.db_url, course.course_id)


def _forget(course: Course, assignment: str, student: str) -> None:
    """No stale scores: drop this student's previous grades and generated files."""
    from nbgrader.api import MissingEntry
    with _gradebook(course) as gb:
        try:
            gb.remove_submission(assignment, student)
        except MissingEntry:
            pass
    for step in ("autograded", "feedback"):
        shutil.rmtree(course.step(step) / student / assignment, ignore_errors=True)


def _source_cells(course: Course, assignment: str, notebook: str) -> dict:
    """{grade_id: ({checksums of the instructor's versions}, is_test)} for test and read-only
    cells: the source version (gradebook) and the released one (scratch release)."""
    import nbformat
    from nbgrader.utils import compute_checksum
    with _gradebook(course) as gb:
        nb = gb.find_notebook(notebook, assignment)
        answers = {c.name for c in nb.solution_cells}  # incl. manually graded answers: editable
        tests = {c.name for c in nb.grade_cells} - answers
        cells = {c.name: ({c.checksum}, c.name in tests) for c in nb.source_cells
                 if (c.locked or c.name in tests) and c.name not in answers}
    released = course.step(".release") / assignment / f"{notebook}.ipynb"
    if released.exists():
        for cell in nbformat.read(released, as_version=4).cells:
            gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            if gid in cells:
                cells[gid][0].add(compute_checksum(cell))
    return cells


def _read(path: Path):
    import nbformat
    try:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
    except Exception as e:  # noqa: BLE001 - any unreadable file is the same to the grader
        text = str(e)
        if "JSON" in text or isinstance(e, ValueError):
            return None, "not valid JSON"
        return None, f"not a valid notebook: {type(e).__name__}"
    return nb, ""


def _failure(result: dict) -> str:
    text = (result.get("error") or "") + "\n" + (result.get("log") or "")
    if "DeadKernelError" in text or "Kernel died" in text or "kernel died" in text.lower():
        return "kernel died (os._exit, a crash or the memory limit): not graded"
    if "CellTimeoutError" in text or "Timeout waiting for" in text or "Kernel didn't respond" in text:
        return "a cell ignored the timeout interrupt (e.g. catches KeyboardInterrupt): not graded"
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    last = next((l for l in reversed(lines) if "Error" in l or "[ERROR]" in l), lines[-1] if lines else "")
    return f"nbgrader failed: {last[:120]}"


def _runtime_flags(nb) -> list[str]:
    from .preprocessors import CUT_MARK
    flags = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        for out in cell.get("outputs", []):
            if out.output_type == "error":
                blob = f"{out.ename} {out.evalue}"
                if out.ename in ("CellTimeoutError", "TimeoutError") or "CellTimeoutError" in "".join(out.traceback):
                    flags.append(f"timeout (cell {i})")
                elif out.ename == "MemoryError" or "can't allocate memory" in blob \
                        or "DefaultCPUAllocator" in blob or "std::bad_alloc" in blob:
                    flags.append(f"memory limit (cell {i})")
                elif out.ename == "SystemExit":
                    flags.append(f"SystemExit (cell {i})")
            elif out.output_type == "stream" and CUT_MARK in out.get("text", ""):
                flags.append(f"huge output cut (cell {i})")
    return flags


def _penalise(course, assignment, student, notebook, nb, first_cell) -> int:
    """Tests that run after the first tampering cell get no credit (manual score 0)."""
    from nbgrader.api import MissingEntry
    ids = [c.metadata["nbgrader"]["grade_id"] for i, c in enumerate(nb.cells)
           if i > first_cell and c.get("metadata", {}).get("nbgrader", {}).get("grade")
           and not c.metadata["nbgrader"].get("solution")]
    zeroed = 0
    with _gradebook(course) as gb:
        for gid in ids:
            try:
                grade = gb.find_grade(gid, notebook, assignment, student)
            except MissingEntry:
                continue
            grade.manual_score = 0.0
            grade.needs_manual_grade = False
            zeroed += 1
        gb.db.commit()
    return zeroed


def grade_one(course: Course, assignment: str, student: str) -> Result:
    import nbformat

    from . import scan

    start = time.monotonic()
    res = Result(student, assignment)
    _forget(course, assignment, student)
    sub = course.step("submitted") / student / assignment
    names = course.notebooks(assignment)
    with _gradebook(course) as gb:
        res.max_score = float(gb.find_assignment(assignment).max_score)
    readable = {}
    for name in names:
        path = sub / f"{name}.ipynb"
        if not path.exists():
            res.flags.append(f"missing notebook {name}.ipynb")
            continue
        nb, why = _read(path)
        if nb is None:
            res.flags.append(f"invalid notebook {name}.ipynb ({why})")
        else:
            readable[name] = nb
            res.flags += scan.integrity(nb, _source_cells(course, assignment, name))
    if len(readable) < len(names) and any(f.startswith("invalid") for f in res.flags):
        res.seconds = time.monotonic() - start
        res.save(course)
        return res
    res.timings["checks"] = time.monotonic() - start
    t = time.monotonic()
    result = course.api().autograde(assignment, student, force=True, create=True)
    if not result["success"] and "database is locked" in str(result.get("error")):
        time.sleep(2)  # another grader held the SQLite lock for longer than its 5 s timeout
        result = course.api().autograde(assignment, student, force=True, create=True)
    res.timings["nbgrader_autograde"] = time.monotonic() - t
    t = time.monotonic()
    if not result["success"]:
        for name, nb in readable.items():  # say why, from the file as submitted
            res.flags += [str(f) for f in scan.tampering(nb, _source(course, assignment, name))]
        res.flags.append(_failure(result))
        _forget(course, assignment, student)
        res.seconds = time.monotonic() - start
        res.save(course)
        return res
    for name in names:
        path = course.step("autograded") / student / assignment / f"{name}.ipynb"
        if not path.exists():
            continue
        nb = nbformat.read(path, as_version=4)
        res.flags += _runtime_flags(nb)
        findings = scan.tampering(nb, _source(course, assignment, name))
        res.flags += [str(f) for f in findings]
        tampered = [f.cell for f in findings if f.kind == scan.TAMPER]
        if tampered:
            n = _penalise(course, assignment, student, name, nb, min(tampered))
            if n:
                res.flags.append(f"no credit for {n} test cell(s) after tampering")
    with _gradebook(course) as gb:
        s = gb.find_submission(assignment, student)
        res.score, res.max_score = float(s.score), float(s.max_score)
    res.status = GRADED
    res.timings["checks"] += time.monotonic() - t
    res.seconds = time.monotonic() - start
    res.save(course)
    return res


_SOURCES: dict = {}


def _source(course: Course, assignment: str, name: str):
    import nbformat
    key = (str(course.source), assignment, name)
    if key not in _SOURCES:
        _SOURCES[key] = nbformat.read(course.source / assignment / f"{name}.ipynb", as_version=4)
    return _SOURCES[key]


def grade_one_main(course: Course, assignment: str, student: str) -> int:
    """Entry point of the child process (``python -m autograder _grade-one A S``)."""
    res = grade_one(course, assignment, student)
    print(json.dumps(asdict(res)))
    return 0


# --- the batch ----------------------------------------------------------------------------
def _child(course: Course, assignment: str, student: str, budget: float) -> Result:
    cmd = [sys.executable, "-m", "autograder", "_grade-one", "--instructor",
           str(course.instructor), "--timeout", str(course.timeout), "--memory-mb",
           str(course.memory_mb), assignment, student]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(course.root), *filter(None, [os.environ.get("PYTHONPATH")])]))
    start = time.monotonic()
    why = ""
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=budget, env=env,
                              cwd=course.instructor, start_new_session=True)
        if proc.returncode != 0:
            tail = (proc.stderr or "").strip().splitlines()
            why = f"grader exited with {proc.returncode}: {tail[-1][:120] if tail else ''}"
    except subprocess.TimeoutExpired:
        why = f"grading took longer than {budget:.0f} s"
    path = flags_path(course, assignment, student)
    if not why and path.exists():
        res = Result.load(path)
        if res.seconds >= 0 and path.stat().st_mtime >= time.time() - (time.monotonic() - start) - 1:
            res.timings["child_process"] = time.monotonic() - start - res.seconds
            return res
        why = "grader wrote no result"
    # the child died: make sure no stale score survives, and say so
    try:
        _forget(course, assignment, student)
    except Exception:  # noqa: BLE001
        pass
    res = Result(student, assignment, flags=[why or "grader wrote no result"],
                 seconds=time.monotonic() - start)
    with _gradebook(course) as gb:
        res.max_score = float(gb.find_assignment(assignment).max_score)
    res.save(course)
    return res


def grade(course: Course, assignment: str, *, students: list[str] | None = None, jobs: int = 1,
          progress: bool = True) -> list[Result]:
    from .release import sync_gradebook

    known = course.students(assignment)
    if students:
        missing = [s for s in students if s not in known]
        if missing:
            raise AutograderError(f"no submission of {assignment} from {', '.join(missing)} in "
                                  f"{course.step('submitted')} (run collect first)")
    else:
        students = known
    if not students:
        raise AutograderError(f"no submissions of {assignment} in {course.step('submitted')} "
                              "(run: python -m autograder collect "
                              f"{assignment} PATH)")
    sync_gradebook(course, assignment)
    for s in students:  # a result file from an earlier run must not be mistaken for this one
        flags_path(course, assignment, s).unlink(missing_ok=True)
    cells = sum(1 for _ in _source(course, assignment, course.notebooks(assignment)[0]).cells)
    budget = 120 + cells * (course.timeout + 5)
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(students), desc=f"grading {assignment}", unit="student",
                   file=sys.stderr, dynamic_ncols=True)
    results = []
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [pool.submit(_child, course, assignment, s, budget) for s in students]
        for fut in futures:
            res = fut.result()
            results.append(res)
            if bar:
                bar.set_postfix_str(f"{res.student}: {res.score:g}/{res.max_score:g}")
                bar.update(1)
    if bar:
        bar.close()
    return results


def table(rows: list[tuple], headers: tuple) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    line = lambda r: "  ".join(str(x).ljust(w) for x, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows])


def summary(results: list[Result]) -> str:
    rows = [(r.student, f"{r.score:g}/{r.max_score:g}", r.status, "; ".join(r.flags) or "-")
            for r in sorted(results, key=lambda r: r.student)]
    graded = [r for r in results if r.status == GRADED]
    flagged = sum(1 for r in results if r.flags)
    mean = sum(r.score for r in graded) / len(graded) if graded else 0.0
    foot = (f"\n{len(results)} student(s): {len(graded)} graded, {len(results) - len(graded)} "
            f"not graded, {flagged} flagged; mean score of graded {mean:.2f}")
    return table(rows, ("student", "score", "status", "flags")) + foot
