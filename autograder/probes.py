"""Trusted verdicts: each test cell is a *probe* (run in the student's kernel) and a *check*
(run here, in the grader's own process, on plain data).

An exercise author writes a test cell once (see ``lrlab.probe``)::

    # Test (hidden, 2 points): what is checked, in words.
    ### BEGIN HIDDEN TESTS
    def probe():
        ...                      # calls the student's code, returns plain data
    def judge(r):
        assert ..., "message"    # judges that data
    run_test(probe, judge)
    ### END HIDDEN TESTS

Students run the cell as it is (``run_test`` judges in their kernel). When a notebook is
graded (``Test.kernel_source``), a test cell with no hidden part runs its probe and its judge in
the kernel and reports both; a cell with a hidden part runs only its probe: hidden checks
never enter the student's kernel. ``judge`` here then runs the instructor's ``judge``, taken
from the source notebook, on the reported data; its verdict alone decides the points
(``apply``), and a kernel that claimed a pass the grader does not confirm is flagged.
"""
from __future__ import annotations

import ast
import contextlib
import io
import json
import re
from dataclasses import dataclass

from lrlab.probe import MIME, NotPlainData, check_namespace, decode

HIDDEN_BEGIN = "### BEGIN HIDDEN TESTS"
HIDDEN_END = "### END HIDDEN TESTS"
PASSED = "passed"


class TestFormatError(Exception):
    """A test cell the grader cannot split into a probe and a check (an author's mistake)."""


@dataclass(frozen=True)
class Test:
    grade_id: str
    points: float
    source: str           # the instructor's cell, hidden parts included
    kernel_source: str    # what the grading kernel runs instead
    check_source: str     # the judge function, run by the grader
    hidden: bool          # has a hidden part: its check never runs in the kernel
    check_start: int = 0  # the judge's first line in ``source`` (0-based)


@dataclass(frozen=True)
class Verdict:
    passed: bool
    message: str          # the check's output when it passed, why not when it failed
    kernel: str = ""      # what the kernel's own run of the check said ("" when it had none)
    line: int = 0         # the line of ``Test.source`` whose assert failed in the grader (1-based)

    @property
    def disagrees(self) -> bool:
        return self.kernel == PASSED and not self.passed


def _lines(node) -> range:
    start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
    return range(start - 1, node.end_lineno)


def split(grade_id: str, source: str, points: float) -> Test:
    """The kernel's part and the grader's part of one test cell."""
    try:
        tree = ast.parse(source)
    except SyntaxError as e:
        raise TestFormatError(f"test cell {grade_id}: not valid Python ({e.msg}, line {e.lineno})")
    body = tree.body
    checks = [n for n in body if isinstance(n, ast.FunctionDef) and n.name == "judge"]
    probes = [n for n in body if isinstance(n, ast.FunctionDef) and n.name == "probe"]
    last = body[-1] if body else None
    calls_run_test = (isinstance(last, ast.Expr) and isinstance(last.value, ast.Call)
                      and isinstance(last.value.func, ast.Name) and last.value.func.id == "run_test"
                      and [getattr(a, "id", None) for a in last.value.args] == ["probe", "judge"])
    if len(checks) != 1 or len(probes) != 1 or not calls_run_test:
        raise TestFormatError(f"test cell {grade_id} must define probe() and judge(result) once "
                              "each and end with run_test(probe, judge) (see lrlab.probe)")
    lines = source.splitlines()
    hidden = HIDDEN_BEGIN in source
    drop = set(_lines(last)) | (set(_lines(checks[0])) if hidden else set())
    kept = [line for i, line in enumerate(lines) if i not in drop]
    call = "_lrlab_probe.report(probe)" if hidden else "_lrlab_probe.report(probe, judge)"
    kernel = "\n".join(["import lrlab.probe as _lrlab_probe", *kept, call])
    check = "\n".join(lines[i] for i in _lines(checks[0]))
    return Test(grade_id, float(points), source, kernel, check, hidden, _lines(checks[0]).start)


def is_test_cell(cell) -> bool:
    """An autograded test cell: graded code that is not the student's answer."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


def tests_of(nb) -> dict[str, Test]:
    """Every autograded test cell of a source notebook, by grade id."""
    out = {}
    for cell in filter(is_test_cell, nb.cells):
        meta = cell.metadata["nbgrader"]
        out[meta["grade_id"]] = split(meta["grade_id"], cell.source, meta.get("points", 0))
    return out


def payloads(outputs) -> list:
    """The probe results in a cell's outputs, as plain JSON values (no NotebookNode)."""
    return [json.loads(json.dumps(o["data"][MIME])) for o in outputs
            if o.get("output_type") == "display_data" and MIME in o.get("data", {})]


def _kernel_error(outputs) -> str:
    for o in outputs:
        if o.get("output_type") == "error":
            return f"{o.get('ename', 'Error')}: {o.get('evalue', '')}".strip().rstrip(":")
    return ""


def judge(test: Test, outputs) -> Verdict:
    """Run the instructor's check on the probe data the kernel reported for this cell."""
    found = payloads(outputs)
    if len(found) != 1 or type(found[0]) is not dict:
        why = _kernel_error(outputs) or ("no probe result" if not found else
                                         "more than one probe result" if len(found) > 1 else
                                         "a malformed probe result")
        return Verdict(False, f"the test could not check your work ({why})")
    payload = found[0]
    kernel = payload.get("kernel", "") if type(payload.get("kernel", "")) is str else ""
    if "value" not in payload:
        why = payload.get("error") if type(payload.get("error")) is str else "no result"
        return Verdict(False, f"the test could not run your code: {why}"[:500], kernel)
    try:
        value = decode(payload["value"])
    except (NotPlainData, ValueError, TypeError) as e:
        return Verdict(False, f"the test got data it cannot read ({e})", kernel)
    namespace = check_namespace()
    printed = io.StringIO()
    try:
        exec(compile(test.check_source, f"<check {test.grade_id}>", "exec"), namespace)
        with contextlib.redirect_stdout(printed):
            namespace["judge"](value)
    except AssertionError as e:
        return Verdict(False, str(e) or "a check failed", kernel, _failed_line(test, e))
    except Exception as e:  # noqa: BLE001 - the data broke the check: that is a failed test
        return Verdict(False, f"{type(e).__name__}: {e}"[:500], kernel, _failed_line(test, e))
    return Verdict(True, printed.getvalue()[:20_000] or "ok (checked by the grader)\n", kernel)


def _failed_line(test: Test, error: BaseException) -> int:
    """Where in the test cell the grader's run of its judge failed (1-based; 0: not in it)."""
    tb, line = error.__traceback__, 0
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == f"<check {test.grade_id}>":
            line = test.check_start + tb.tb_lineno
        tb = tb.tb_next
    return line


def apply(cell, test: Test, verdict: Verdict) -> None:
    """Give the test cell the instructor's source and outputs that score as the verdict says:
    nbgrader scores a test cell 0 for an error or stderr output and full points otherwise.
    A failure's error is made here (``failure_traceback``), never the kernel's: the kernel's
    traceback runs through the grading form of the cell and the grader's files."""
    from nbformat.v4 import new_output

    kept, errors = [], []
    for o in cell.get("outputs", []):
        kind = o.get("output_type")
        if kind == "display_data" and MIME in o.get("data", {}):
            continue
        if kind in ("error", "execute_result"):
            errors += [o] if kind == "error" else []
            continue
        if kind == "stream" and o.get("name") == "stderr":
            o = new_output("stream", name="stdout", text=o.get("text", ""))
        kept.append(o)
    printed = "".join(o.get("text", "") for o in kept if o.get("output_type") == "stream")
    if verdict.passed:
        if not printed.endswith(verdict.message):      # a visible test printed it already
            kept.append(new_output("stream", name="stdout", text=verdict.message))
    else:
        count = cell.get("execution_count")
        own = student_frames(errors[0].get("traceback", []), count) if errors else []
        failed = 0 if test.hidden else verdict.line       # a hidden judge's lines stay hidden
        kept.append(new_output("error", ename="AssertionError", evalue=verdict.message,
                               traceback=failure_traceback(test.source, verdict.message, count, own,
                                                           failed)))
    cell.source = test.source
    cell.outputs = kept


ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
CELL_FRAME = re.compile(r"Cell In\[(\d+)\], line \d+")


def student_frames(traceback: list, count) -> list[str]:
    """The frames of a kernel's traceback in the student's own cells: a frame (one item of
    IPython's list) that starts ``Cell In[N]`` for a cell other than the test cell itself (``count``).
    Frames in files (``lrlab/probe.py``, site-packages: grader internals, instructors' paths) and
    in the test cell (its kernel form calls ``_lrlab_probe.report``) are left out, as is anything
    not text. What is kept is shown only on this student's page, as text, and the leak check
    still reads it."""
    kept = []
    for frame in traceback if type(traceback) is list else []:
        if type(frame) is not str:
            continue
        head = CELL_FRAME.match(ANSI.sub("", frame).lstrip())
        if head and str(head.group(1)) != str(count):
            kept.append(frame[:4000])
    return kept[-5:]


def failure_traceback(source: str, message: str, count, frames: list[str], failed: int = 0) -> list[str]:
    """A failed test as IPython shows an error, from the instructor's source: the test cell's own
    ``run_test(probe, judge)`` line, the student's ``frames``, the judge's line ``failed`` (where
    the grader's run of it failed; 0 for none), then the assertion message."""
    lines = source.splitlines()
    red, green, reset = "\x1b[31m", "\x1b[32m", "\x1b[39m"

    def frame(n: int, where: str = "") -> str:
        head = f"Cell In[{count}], line {n}" if count else f"line {n}"
        return f"{head}{where}\n{green}----> {n}{reset} {lines[n - 1] if 0 < n <= len(lines) else ''}\n"

    call = max((i + 1 for i, line in enumerate(lines) if line.startswith("run_test(")), default=len(lines))
    judged = [frame(failed, ", in judge")] if failed else []
    return [f"{red}{'-' * 75}{reset}",
            f"{red}AssertionError{reset}{' ' * 28}Traceback (most recent call last)",
            frame(call), *frames, *judged, f"{red}AssertionError{reset}: {message}"]
