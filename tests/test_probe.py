"""Trusted verdicts: the plain-data format (lrlab.probe) and the probe/judge split the grader
makes of every test cell (autograder.probes), checked on their own and on every exercise."""
from __future__ import annotations

import json
import math

import nbformat
import pytest
import torch

from conftest import ROOT
from autograder import probes
from autograder.course import Course
from lrlab.probe import NotPlainData, decode, encode, run_test


def _roundtrip(value):
    return decode(json.loads(json.dumps(encode(value))))


def test_plain_data_survives_the_trip():
    value = {"a": [1, 2.5, None, True, "s", (3, 4)], "nan": float("nan"), "inf": -math.inf,
             "t": torch.arange(6.0).reshape(2, 3), "z": torch.tensor(3), "b": torch.tensor([True]),
             "p": torch.nn.Parameter(torch.ones(2)), "bf": torch.ones(2, dtype=torch.bfloat16),
             "empty": torch.empty(0, 3)}
    back = _roundtrip(value)
    assert back["a"] == [1, 2.5, None, True, "s", [3, 4]]
    assert math.isnan(back["nan"]) and back["inf"] == -math.inf
    for key in ("t", "z", "b", "bf", "empty"):
        assert type(back[key]) is torch.Tensor and torch.equal(back[key], value[key])
    assert type(back["p"]) is torch.Tensor and torch.equal(back["p"], torch.ones(2))


class _Liar(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        return True if func is torch.equal else super().__torch_function__(func, types, args, kwargs or {})


class _AlwaysEqual:
    def __eq__(self, other):
        return True


@pytest.mark.parametrize("bad", [_AlwaysEqual(), torch.ones(2).as_subclass(_Liar), type("S", (str,), {})("B"),
                                 type("F", (float,), {})(1.0), {1: "int key"}, {"deep": [[[[]]]] * 3},
                                 range(3), b"bytes"])
def test_anything_but_plain_data_is_refused(bad):
    if isinstance(bad, dict) and "deep" in bad:
        nested = []
        for _ in range(40):
            nested = [nested]
        bad = {"deep": nested}
    with pytest.raises(NotPlainData):
        encode(bad)


@pytest.mark.parametrize("data", [
    {"__tensor__": {"dtype": "float32", "shape": [4], "data": "AAAA"}},            # wrong size
    {"__tensor__": {"dtype": "object", "shape": [1], "data": ""}},                  # not a dtype
    {"__tensor__": {"dtype": "float32", "shape": [-1], "data": ""}},
    {"__tensor__": {"dtype": "float32", "shape": [10**9, 10**9], "data": ""}},
    {"__tensor__": "x"}, {"__float__": "1e400"}, {3: 4}])
def test_malformed_data_is_refused(data):
    with pytest.raises((NotPlainData, ValueError, TypeError)):
        decode(data)


def test_run_test_judges_what_the_grader_would_see():
    def judge(r):   # raise, not assert: pytest rewrites asserts with names of its own
        if not (type(r["x"]) is torch.Tensor and r["n"] == 2):
            raise AssertionError("not what the probe returned")

    run_test(lambda: {"x": torch.ones(2), "n": 2}, judge)
    with pytest.raises(AssertionError, match="not what"):
        run_test(lambda: {"x": torch.ones(2), "n": 3}, judge)
    with pytest.raises(NotPlainData):
        run_test(lambda: _AlwaysEqual(), judge)

    def uses_a_test_global(r):
        return pytest   # a judge sees builtins, torch and math only: as in the grader

    with pytest.raises(NameError):
        run_test(lambda: 1, uses_a_test_global)


CELL = '''# Test (hidden, 2 points): a doubled number.
### BEGIN HIDDEN TESTS
def helper(x):
    return 2 * x

def probe():
    return helper(answer)

def judge(r):
    assert r == 8, "not doubled"
    print("ok: doubled")

run_test(probe, judge)
### END HIDDEN TESTS'''


def test_hidden_judges_never_reach_the_kernel():
    test = probes.split("t", CELL, 2)
    assert test.hidden and "not doubled" not in test.kernel_source and "def judge" not in test.kernel_source
    assert "def helper" in test.kernel_source and test.kernel_source.rstrip().endswith("report(probe)")
    assert test.check_source.startswith("def judge") and "not doubled" in test.check_source
    visible = probes.split("v", CELL.replace("### BEGIN HIDDEN TESTS\n", "").replace("### END HIDDEN TESTS", ""), 1)
    assert not visible.hidden and visible.kernel_source.rstrip().endswith("report(probe, judge)")


@pytest.mark.parametrize("source", ["assert True", "def probe():\n    return 1\nrun_test(probe, judge)",
                                    "def probe():\n    return 1\ndef judge(r):\n    pass\nprint(1)"])
def test_a_test_cell_without_probe_judge_run_test_is_an_authors_error(source):
    with pytest.raises(probes.TestFormatError, match="run_test"):
        probes.split("t", source, 1)


def _out(payload):
    return [nbformat.v4.new_output("display_data", data={probes.MIME: payload})]


def test_the_verdict_comes_from_the_instructors_judge_alone():
    test = probes.split("t", CELL, 2)
    assert probes.judge(test, _out({"value": 8})) == probes.Verdict(True, "ok: doubled\n", "")
    wrong = probes.judge(test, _out({"value": 9, "kernel": "passed"}))
    assert not wrong.passed and wrong.message == "not doubled" and wrong.disagrees
    for outputs in ([], _out({"value": 8}) + _out({"value": 8}), _out({"error": "NameError: answer"}),
                    _out({"value": {"__tensor__": "junk"}}), _out("not a dict")):
        assert not probes.judge(test, outputs).passed


def test_apply_gives_outputs_that_score_as_the_verdict_says():
    from nbgrader.utils import determine_grade
    test = probes.split("t", CELL, 2)
    for verdict, points in ((probes.Verdict(True, "ok\n"), 2.0), (probes.Verdict(False, "no"), 0.0)):
        cell = nbformat.v4.new_code_cell("kernel form")
        cell.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": "t", "points": 2}
        cell.outputs = _out({"value": 8}) + [
            nbformat.v4.new_output("stream", name="stderr", text="a warning from the student's code"),
            nbformat.v4.new_output("execute_result", data={"text/plain": "0"}, execution_count=1)]
        probes.apply(cell, test, verdict)
        assert cell.source == CELL and determine_grade(cell)[0] == points
        assert not probes.payloads(cell.outputs)


@pytest.mark.parametrize("assignment", Course().assignments())
def test_every_exercise_test_cell_splits(assignment):
    nb = nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    tests = probes.tests_of(nb)
    assert tests, f"{assignment} has no autograded test cells"
    for test in tests.values():
        compile(test.kernel_source, test.grade_id, "exec")
        assert test.hidden or "HIDDEN" not in test.kernel_source


def test_a_visible_tests_ok_line_is_shown_once():
    test = probes.split("v", CELL.replace("### BEGIN HIDDEN TESTS\n", "").replace("### END HIDDEN TESTS", ""), 1)
    cell = nbformat.v4.new_code_cell("kernel form")
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": "v", "points": 1}
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="ok: doubled\n")]
    cell.outputs += _out({"value": 8, "kernel": "passed"})
    probes.apply(cell, test, probes.judge(test, cell.outputs))
    assert [o.output_type for o in cell.outputs] == ["stream"] and cell.outputs[0].text == "ok: doubled\n"


VISIBLE = '''# Test (visible, 1 point): doubles.
def probe():
    return answer()

def judge(r):
    assert r == 8, "not doubled"

run_test(probe, judge)'''


@pytest.fixture
def shell():
    """A real IPython shell whose tracebacks are kept as a kernel sends them (IPython's list)."""
    from IPython.core.interactiveshell import InteractiveShell
    sh, sent = InteractiveShell.instance(), []
    sh._showtraceback = lambda etype, evalue, stb: sent.append(stb)
    yield sh, sent
    del sh._showtraceback                  # the class's own again


@pytest.mark.parametrize("answer,payload,where,line,message", [
    ("def answer():\n    return 9", {"value": 9, "kernel": "failed: AssertionError"},
     "line 6, in judge", '----> 6     assert r == 8, "not doubled"', "AssertionError: not doubled"),
    ("def answer():\n    raise NotImplementedError('todo')", {"error": "NotImplementedError: todo"},
     "line 2, in answer()", "----> 2     raise NotImplementedError('todo')",
     "AssertionError: the test could not run your code: NotImplementedError: todo")])
def test_a_failed_test_shows_the_test_line_the_students_frames_and_the_message(shell, answer, payload,
                                                                               where, line, message):
    """A visible test run in its grading form in a real IPython after the student's ``answer``
    cell, its outputs as the kernel sent them, then ``apply``'d: no grader frame is left."""
    sh, sent = shell
    test = probes.split("v", VISIBLE, 1)
    sh.run_cell(answer, store_history=True)
    result = sh.run_cell(test.kernel_source, store_history=True)
    assert not result.success and sent
    cell = nbformat.v4.new_code_cell("kernel form", execution_count=result.execution_count)
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": "v", "points": 1}
    error = result.error_in_exec
    cell.outputs = _out(payload) + [nbformat.v4.new_output(
        "error", ename=type(error).__name__, evalue=str(error), traceback=sent[-1])]
    probes.apply(cell, test, probes.judge(test, cell.outputs))
    (shown,) = [o for o in cell.outputs if o.output_type == "error"]
    text = probes.ANSI.sub("", "\n".join(shown.traceback))
    assert f"Cell In[{cell.execution_count}], line 8\n----> 8 run_test(probe, judge)" in text
    assert text.rstrip().endswith(message) and shown.ename == "AssertionError"
    # where it failed: the grader's run of the judge, or the student's own cell (the one before)
    count = cell.execution_count - ("answer" in where)
    assert f"Cell In[{count}], {where}" in text and line in text, text
    for grader in ("_lrlab_probe", "lrlab/probe.py", "report(", "noqa", str(ROOT), "def judge"):
        assert grader not in text, grader
    hidden = probes.split("h", VISIBLE.replace("def judge", "### BEGIN HIDDEN TESTS\ndef judge")
                          .replace("\n\nrun_test", "\n### END HIDDEN TESTS\nrun_test"), 1)
    probes.apply(cell, hidden, probes.judge(hidden, _out(payload)))
    assert "assert r == 8" not in "".join(cell.outputs[-1].traceback)   # a hidden judge's line


def test_only_the_students_cell_frames_of_a_kernel_traceback_are_kept():
    frames = ["\x1b[31m-----\x1b[39m", "NameError   Traceback (most recent call last)",
              "Cell In[7], line 9\n----> 9 _lrlab_probe.report(probe, judge)",          # the test cell
              "File /srv/course/lrlab/probe.py:137, in report(probe, judge)",           # grader files
              "\x1b[36mCell\x1b[39m \x1b[32mIn[3]\x1b[39m, line 2, in answer()\n----> 2 x",  # the student's
              {"not": "text"}, "Cell In[x], line 1", "NameError: name 'x' is not defined"]
    assert probes.student_frames(frames, 7) == [frames[4]]
    assert probes.student_frames("Cell In[3], line 1", 7) == [] and probes.student_frames(None, 7) == []
