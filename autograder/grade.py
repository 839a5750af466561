"""``grade``: the batch. Workers grade students; only the batch writes the gradebook and ledger.

1. The sandbox must work here (``sandbox.problem``), or the instructor says ``--no-sandbox``
   (then every run warns and every row is flagged "graded without a sandbox").
2. The gradebook takes the current ``solutions/`` (only when they changed since the last sync).
3. Each student's old scores and files are removed first: a regrade that fails leaves no
   stale score.
4. ``jobs`` worker processes (``python -m autograder _worker``, see ``autograder.worker``) grade
   one student at a time each. A worker that dies, hangs past the student's time budget or
   writes nonsense is killed with everything it started; that student is "not graded" with
   the reason, a new worker takes over, and the batch goes on. With a ``Crew``, workers are
   kept for the next batch (the demo grades assignment after assignment with the same ones).
5. Each result goes into the gradebook (nbgrader's ``SaveAutoGrades`` and late penalties),
   ``flags/<assignment>/<student>.json`` and the ledger (``autograder.record``).
"""
from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from .course import AutograderError, Course
from .record import GRADED, NO_SANDBOX, Result, append, feedback_problem_path, result_path
from .sandbox import data_limit

TABLE_WIDTH = 100      # columns of a printed table (its flags column wraps)


def _gradebook(course: Course):
    from nbgrader.api import Gradebook
    return Gradebook(course.db_url, course.course_id)


def forget(course: Course, assignment: str, student: str) -> None:
    """No stale scores: drop this student's previous grades and generated files."""
    from nbgrader.api import MissingEntry
    with _gradebook(course) as gb:
        try:
            gb.remove_submission(assignment, student)
        except MissingEntry:
            pass
    for step in ("autograded", "feedback"):
        shutil.rmtree(course.step(step) / student / assignment, ignore_errors=True)
    result_path(course.instructor, assignment, student).unlink(missing_ok=True)
    feedback_problem_path(course.instructor, assignment, student).unlink(missing_ok=True)


def _pragmas(connection, _record) -> None:
    if type(connection).__module__.startswith("sqlite3"):
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


def quick_commits() -> None:
    """Gradebook commits without an fsync each: SQLite's WAL journal with synchronous=NORMAL
    (safe against a crash of the grader; the ledger, which is fsynced, records every result).
    nbgrader's preprocessors commit once per cell: 34 fsyncs per ps1 student otherwise.
    Registered once per process, however many batches it grades."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    if not event.contains(Engine, "connect", _pragmas):
        event.listen(Engine, "connect", _pragmas)


def save(course: Course, res: Result) -> Result:
    """Put a worker's result into the gradebook (graded) or leave the student out (not graded),
    then record it in the result file and the ledger."""
    import warnings

    import nbformat
    from nbgrader.preprocessors import AssignLatePenalties, SaveAutoGrades
    from sqlalchemy.exc import SAWarning

    warnings.filterwarnings("ignore", category=SAWarning)   # nbgrader 0.9 on SQLAlchemy 2.x
    if res.status == GRADED:
        folder = course.step("autograded") / res.student / res.assignment
        with _gradebook(course) as gb:
            gb.update_or_create_student(res.student)
            stamp = course.coursedir().get_existing_timestamp(
                str(course.step("submitted") / res.student / res.assignment))
            gb.update_or_create_submission(res.assignment, res.student,
                                           **({"timestamp": stamp} if stamp else {}))
        config = course.config()
        for name in course.notebooks(res.assignment):
            path = folder / f"{name}.ipynb"
            if not path.exists():
                continue
            nb = nbformat.read(path, as_version=4)
            resources = {"nbgrader": {"notebook": name, "assignment": res.assignment,
                                      "student": res.student, "db_url": course.db_url}}
            for pp in (SaveAutoGrades, AssignLatePenalties):
                nb, resources = pp(config=config).preprocess(nb, resources)
        with _gradebook(course) as gb:
            sub = gb.find_submission(res.assignment, res.student)
            res.score, res.max_score = float(sub.score), float(sub.max_score)
            res.cells = {g.name: g.auto_score for nb in sub.notebooks for g in nb.grades}
    else:
        forget(course, res.assignment, res.student)
        res.score, res.cells = 0.0, {}
        with _gradebook(course) as gb:
            res.max_score = float(gb.find_assignment(res.assignment).max_score)
    if not res.sandboxed and NO_SANDBOX not in res.flags:
        res.flags.append(NO_SANDBOX)
    res.save(course.instructor)
    append(course.instructor, res)
    return res


# --- workers ----------------------------------------------------------------------------------
class WorkerDied(Exception):
    pass


class WorkerProcess:
    """One ``python -m autograder _worker`` child, fed one student at a time."""

    def __init__(self, course: Course, assignment: str, tmp: Path, *, sandbox: bool, gpu: bool):
        self.sandbox, self.gpu = sandbox, gpu
        self.tmp = Path(tempfile.mkdtemp(prefix="w", dir=tmp))
        cmd = [sys.executable, "-m", "autograder", "_worker", assignment,
               "--instructor", str(course.instructor), "--timeout", str(course.timeout),
               "--memory-mb", str(course.limits.memory_mb)]
        cmd += [] if sandbox else ["--no-sandbox"]
        cmd += ["--gpu"] if gpu else []
        env = dict(os.environ, TMPDIR=str(self.tmp), PYTHONPATH=os.pathsep.join(
            [str(course.root), *filter(None, [os.environ.get("PYTHONPATH")])]))
        self.log = open(self.tmp / "worker.log", "wb")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.log, env=env, cwd=self.tmp, text=True,
                                     start_new_session=True)
        self.replies: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.replies.put(line)
        self.replies.put(None)

    def grade(self, assignment: str, student: str, budget: float) -> Result:
        try:
            self.proc.stdin.write(json.dumps({"student": student, "assignment": assignment}) + "\n")
            self.proc.stdin.flush()
        except OSError:
            raise WorkerDied("the grader process was gone")
        try:
            line = self.replies.get(timeout=budget)
        except queue.Empty:
            raise WorkerDied(f"grading took longer than {budget:.0f} s")
        if line is None:
            raise WorkerDied(f"the grader process died ({self._log_tail()})")
        try:
            return Result(**json.loads(line)["result"])
        except (ValueError, KeyError, TypeError):
            raise WorkerDied("the grader process wrote no readable result")

    def _log_tail(self) -> str:
        try:
            lines = (self.tmp / "worker.log").read_text(errors="replace").strip().splitlines()
        except OSError:
            return "no log"
        return lines[-1][:160] if lines else f"exit status {self.proc.poll()}"

    def stop(self) -> None:
        """End the worker and everything it started; remove its files."""
        from .sandbox import remove_cgroups
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=15)
        except (OSError, subprocess.TimeoutExpired):
            pass
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass
            self.proc.wait()
        remove_cgroups(f"lrlab-{self.proc.pid}-")
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


class Crew:
    """Workers kept from one batch to the next (``grade(..., crew=crew)``): a worker serves every
    assignment of the course, so a batch after the first starts no worker and no fork server.
    ``close()`` stops them all."""

    def __init__(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="lrlab-crew-"))
        self._idle: list[WorkerProcess] = []
        self._lock = threading.Lock()

    def take(self, course: Course, assignment: str, *, sandbox: bool, gpu: bool) -> WorkerProcess:
        """An idle worker started with these settings, else a new one."""
        with self._lock:
            for worker in self._idle:
                if (worker.sandbox, worker.gpu) == (sandbox, gpu) and worker.proc.poll() is None:
                    self._idle.remove(worker)
                    return worker
        return WorkerProcess(course, assignment, self.tmp, sandbox=sandbox, gpu=gpu)

    def give(self, worker: WorkerProcess) -> None:
        with self._lock:
            self._idle.append(worker)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for worker in idle:          # all told to finish first: they wind down together
            try:
                worker.proc.stdin.close()
            except OSError:
                pass
        for worker in idle:
            worker.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


def check_sandbox(course: Course, sandbox: bool) -> str:
    """The line the batch prints about isolation; raises when the sandbox cannot run."""
    from . import sandbox as sb
    if not sandbox:
        return ("WARNING: grading WITHOUT a sandbox (--no-sandbox): student code runs as you, "
                "with your files and network; every row is flagged 'graded without a sandbox'")
    why = sb.problem()
    if why:
        raise AutograderError(
            f"cannot sandbox the grading kernels here: {why}. Install bubblewrap on Linux with "
            "user namespaces (or grade inside such a VM/container), or, only for work you "
            "trust, run grade --no-sandbox")
    probe = sb.Cgroup.create(f"lrlab-probe-{os.getpid()}", course.limits)
    if probe:
        probe.remove()
    return sb.describe(course.limits, probe is not None)


def check_tests(assignment: str, sources: dict) -> None:
    """Every test cell of the assignment's ``sources`` can be split into probe and judge (an
    author's check)."""
    from .probes import TestFormatError, tests_of
    for nb in sources.values():
        try:
            tests_of(nb)
        except TestFormatError as e:
            raise AutograderError(f"cannot grade {assignment}: {e}") from None


def grade(course: Course, assignment: str, *, students: list[str] | None = None, jobs: int = 1,
          progress: bool = True, sandbox: bool = True, gpu: bool = False, crew: Crew | None = None,
          say=lambda line: print(line, file=sys.stderr)) -> list[Result]:
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
                              f"(run: python -m autograder collect {assignment} PATH)")
    say(check_sandbox(course, sandbox))
    sources = course.source_notebooks(assignment)
    check_tests(assignment, sources)
    quick_commits()
    sync_gradebook(course, assignment)
    for s in students:
        forget(course, assignment, s)
    budget = course.time_budget(sources) + 60      # the worker's own budget, and its start
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(students), desc=f"grading {assignment}", unit="student",
                   file=sys.stderr, dynamic_ncols=True)
    todo: queue.Queue = queue.Queue()
    for s in students:
        todo.put(s)
    done: queue.Queue = queue.Queue()
    tmp = Path(tempfile.mkdtemp(prefix="lrlab-batch-"))

    def run_worker() -> None:
        worker = None
        try:
            while True:
                try:
                    student = todo.get_nowait()
                except queue.Empty:
                    return
                if worker is None:
                    worker = (crew.take(course, assignment, sandbox=sandbox, gpu=gpu) if crew else
                              WorkerProcess(course, assignment, tmp, sandbox=sandbox, gpu=gpu))
                start = time.monotonic()
                try:
                    res = worker.grade(assignment, student, budget)
                except WorkerDied as e:
                    worker.stop()
                    worker = None
                    res = Result(student, assignment, flags=[f"{e}: not graded"],
                                 seconds=time.monotonic() - start, sandboxed=sandbox)
                res.timings["batch"] = time.monotonic() - start
                done.put(res)
        finally:
            if worker and crew:
                crew.give(worker)
            elif worker:
                worker.stop()

    threads = [threading.Thread(target=run_worker, daemon=True) for _ in range(max(1, jobs))]
    results = []
    with data_limit(course.limits.grader_memory_mb):   # the batch's memory, while it grades
        for t in threads:
            t.start()
        try:
            while len(results) < len(students):
                res = save(course, done.get())
                results.append(res)
                if bar:
                    bar.set_postfix_str(f"{res.student}: {res.score:g}/{res.max_score:g}")
                    bar.update(1)
        finally:
            for t in threads:
                t.join(timeout=60)
            shutil.rmtree(tmp, ignore_errors=True)
            if bar:
                bar.close()
    return results


def _wrap(flags: str, width: int) -> list[str]:
    """``flags`` ("a; b; c") on lines of at most ``width``, whole flags to a line where they fit."""
    import textwrap

    out: list[str] = []
    parts = flags.split("; ")
    for n, flag in enumerate(parts):
        room = width if n == len(parts) - 1 else width - 1        # the last needs no ";"
        if out and len(out[-1]) + 2 + len(flag) <= room:
            out[-1] += "; " + flag
        else:
            if out:
                out[-1] += ";"
            out += textwrap.wrap(flag, room, break_on_hyphens=False) or [""]
    return out


def table(rows: list[tuple], headers: tuple, width: int | None = None) -> str:
    """``rows`` under ``headers`` in padded columns; with ``width``, the last column (the flags)
    wraps onto lines of its own so that no line is longer (it keeps at least 20 columns)."""
    rows = [[str(x) for x in r] for r in rows]
    widths = [max(len(x) for x in col) for col in zip(headers, *rows)]
    if width:
        widths[-1] = min(widths[-1], max(20, width - sum(widths[:-1]) - 2 * (len(widths) - 1)))

    def lines(r) -> list[str]:
        last = _wrap(r[-1], widths[-1]) if width else [r[-1]]
        out = []
        for n, piece in enumerate(last or [""]):
            cells = list(r[:-1]) if n == 0 else [""] * (len(r) - 1)
            out.append("  ".join(x.ljust(w) for x, w in zip(cells + [piece], widths)).rstrip())
        return out

    out = lines(list(headers)) + lines(["-" * w for w in widths])
    for r in rows:
        out += lines(r)
    return "\n".join(out)


def summary(results: list[Result]) -> str:
    from .export import printable
    rows = [(r.student, f"{r.score:g}/{r.max_score:g}", r.status, printable("; ".join(r.flags)) or "-")
            for r in sorted(results, key=lambda r: r.student)]
    graded = [r for r in results if r.status == GRADED]
    flagged = sum(1 for r in results if r.flags)
    mean = sum(r.score for r in graded) / len(graded) if graded else 0.0
    foot = (f"\n{len(results)} student(s): {len(graded)} graded, {len(results) - len(graded)} "
            f"not graded, {flagged} flagged; mean score of graded {mean:.2f}")
    return table(rows, ("student", "score", "status", "flags"), TABLE_WIDTH) + foot

