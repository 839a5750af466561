"""Every sample submission of every assignment grades to its expected score and flags.

One session-scoped run of the real command line (`python -m autograder demo --keep DIR`)
grades all samples under autograder/samples/ in a temporary instructor folder, started from
an unrelated folder (the command line must work from anywhere); each test then reads that
run's results. Adding autograder/samples/<assignment>/ with an expected.json adds tests here.
"""
from __future__ import annotations

import base64
import csv
import json
import re
import sqlite3

import pytest

from autograder.samplekit import grade_id
from conftest import ROOT, autograder_cli

SAMPLES = ROOT / "autograder" / "samples"
pytestmark = pytest.mark.grading


def _assignments() -> list[str]:
    return sorted(p.name for p in SAMPLES.iterdir() if p.is_dir() and (p / "expected.json").exists())


def _expected(assignment: str) -> dict:
    return json.loads((SAMPLES / assignment / "expected.json").read_text())


CASES = [(a, s) for a in _assignments() for s in sorted(_expected(a))]


def test_there_are_samples():
    assert "ps1_param_groups" in _assignments()


@pytest.mark.parametrize("assignment", _assignments())
def test_samples_match_expected_json(assignment):
    folder = SAMPLES / assignment
    files = {p.stem for p in folder.glob("*.ipynb")}
    expected = _expected(assignment)
    assert files == set(expected), (f"samples without an entry: {sorted(files - set(expected))}; "
                                    f"entries without a file: {sorted(set(expected) - files)}")
    assert {"perfect", "untouched"} <= files, "every assignment needs perfect and untouched samples"
    assert (ROOT / "solutions" / assignment).is_dir(), f"no solutions/{assignment}"
    for student, e in expected.items():
        assert isinstance(e.get("score"), (int, float)), f"{student}: score missing"
        assert isinstance(e.get("flags"), list), f"{student}: flags must be a list"
        assert e.get("status", "graded") in ("graded", "not graded"), f"{student}: bad status"


@pytest.mark.parametrize("assignment,student", CASES, ids=[f"{a}/{s}" for a, s in CASES])
def test_sample_grades_as_expected(graded, assignment, student):
    folder, _ = graded
    expected = _expected(assignment)[student]
    result = json.loads((folder / "flags" / assignment / f"{student}.json").read_text())
    flags = result["flags"]
    assert result["status"] == expected.get("status", "graded"), flags
    assert result["score"] == pytest.approx(expected["score"], abs=1e-6), flags
    sandbox = [l for l in (folder / "demo.stderr").read_text().splitlines() if "sandbox" in l]
    for want in expected["flags"]:
        assert any(want in f for f in flags), \
            f"expected a flag containing {want!r}, got {flags} ({' '.join(sandbox[:1])})"
    for f in flags:
        assert any(want in f for want in expected["flags"]), f"unexpected flag {f!r}"


def _auto_points(assignment: str) -> float:
    """Points of the autograded test cells (manually graded answers score 0 until graded)."""
    import nbformat
    total = 0.0
    for path in (ROOT / "solutions" / assignment).glob("*.ipynb"):
        for cell in nbformat.read(path, as_version=4).cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade") and not meta.get("solution"):
                total += float(meta.get("points", 0))
    return total


def test_perfect_is_full_marks_untouched_is_zero(graded):
    folder, _ = graded
    for a in _assignments():
        perfect = json.loads((folder / "flags" / a / "perfect.json").read_text())
        untouched = json.loads((folder / "flags" / a / "untouched.json").read_text())
        assert perfect["score"] == _auto_points(a) > 0, f"{a}: perfect is not full (autograded) marks"
        assert untouched["score"] == 0


def test_solution_notebook_grades_to_full_marks(graded):
    folder, _ = graded
    for a in _assignments():
        r = json.loads((folder / "flags" / a / "_solution.json").read_text())
        assert r["status"] == "graded" and r["flags"] == [], r["flags"]
        assert r["score"] == _auto_points(a) > 0, \
            f"solutions/{a} scores {r['score']} of {_auto_points(a)} autograded points"


def test_export_has_a_row_per_sample_with_flags(graded):
    folder, _ = graded
    with open(folder / "grades.csv", newline="") as f:
        rows = {(r["assignment"], r["student"]): r for r in csv.DictReader(f)
                if r["student"] != "_solution"}
    assert set(rows) == set(CASES)
    for (a, s), row in rows.items():
        e = _expected(a)[s]
        assert float(row["score"]) == pytest.approx(e["score"])
        assert row["flagged"] == ("yes" if e["flags"] else "no")
        status = e.get("status", "graded")
        if status == "graded" and _answers_for_a_grader(a, s):
            status = "needs manual grading"
        assert row["status"] == status, (a, s, row)


def _answers_for_a_grader(assignment: str, student: str) -> bool:
    """Does the sample write an answer that only a person can grade (changed from the release)?"""
    import nbformat
    path = SAMPLES / assignment / f"{student}.ipynb"
    release = nbformat.read(ROOT / "exercises" / assignment / f"{assignment}.ipynb", as_version=4)
    stubs = {c.metadata["nbgrader"]["grade_id"]: c.source for c in release.cells
             if c.metadata.get("nbgrader", {}).get("solution") and c.metadata["nbgrader"].get("grade")}
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception:  # noqa: BLE001 - a broken sample answers nothing
        return False
    return any(c.source != stubs[gid] for c in nb.cells
               if (gid := grade_id(c)) in stubs)


def test_feedback_shows_no_hidden_test_or_key(graded):
    from autograder.course import Course
    from autograder.feedback import hidden_lines, leaks

    folder, _ = graded
    course = Course(instructor=folder)
    checked = 0
    for a in _assignments():
        secret = hidden_lines(course, a)
        assert secret, f"{a} has no hidden tests"
        for html in (folder / "feedback").glob(f"*/{a}/*.html"):
            text = html.read_text(encoding="utf-8")
            assert "BEGIN HIDDEN TESTS" not in text
            student = html.parent.parent.name
            own = SAMPLES / a / f"{student}.ipynb"
            if student != "_solution" and "BEGIN SOLUTION" not in own.read_text(errors="replace"):
                assert "BEGIN SOLUTION" not in text   # (a sample may quote the marker itself)
            assert not leaks(text, secret), f"{html.relative_to(folder)} shows hidden lines"
            checked += 1
        graded_samples = [s for s, e in _expected(a).items() if e.get("status", "graded") == "graded"]
        assert checked >= len(graded_samples)


def _details(stdout: str, assignment: str) -> list[str]:
    """The lines of the demo's per-student table (--details) for ``assignment``."""
    lines = stdout.splitlines()
    start = lines.index(assignment)
    end = next((n for n in range(start + 1, len(lines)) if not lines[n].strip()), len(lines))
    return lines[start:end]


def test_gradebook_intact_and_demo_prints_table(graded):
    folder, stdout = graded
    con = sqlite3.connect(folder / "gradebook.db")
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        con.close()
    for a in _assignments():
        table = _details(stdout, a)
        header = next(l for l in table if l.startswith("student"))
        assert header.split() == ["student", "score", "status", "flags"], table[:3]
        assert max(map(len, table)) <= 100, f"{a}: the table is wider than 100 columns"
        for s in [*_expected(a), "_solution"]:
            assert any(line.split()[:1] == [s] for line in table), f"{s} not in {a}'s table"


def test_demo_summary_counts_match_the_export(graded):
    """One summary per assignment: students, graded, not graded, flagged as in grades.csv;
    where the gradebook, feedback and CSV are; the sandbox line once."""
    folder, stdout = graded
    with open(folder / "grades.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    lines = stdout.splitlines()
    for a in _assignments():
        mine = [r for r in rows if r["assignment"] == a]
        head = next(n for n, l in enumerate(lines) if l.startswith(f"{a}: "))
        assert lines[head].startswith(f"{a}: {len(mine)} students graded in "), lines[head]
        block = {l.split()[0]: l for l in lines[head + 1:head + 5] if l.strip()}
        count = lambda key, n: int(block[key].split()[n])  # noqa: E731
        assert count("graded", 1) == sum(r["status"] != "not graded" for r in mine)
        assert count("not", 2) == sum(r["status"] == "not graded" for r in mine)
        assert count("flagged", 1) == sum(r["flagged"] == "yes" for r in mine)
        assert all(len(l) <= 100 for l in lines[head:head + 5])
    resolved = folder.resolve()
    assert f"kept in {resolved}:" in stdout
    for name in ("gradebook.db", "grades.csv", "summary.html", "feedback"):
        assert f"  {name}" in stdout and (resolved / name).exists(), name
    assert "a tour of" not in stdout, "--all grades every sample"
    stderr = (folder / "demo.stderr").read_text()
    assert sum(l.startswith("sandbox: ") for l in stderr.splitlines()) == 1, stderr[:2000]


def test_regrade_that_crashes_leaves_no_stale_score(graded, tmp_path):
    """nbgrader keeps old scores when a regrade crashes; the autograder removes them first."""
    import shutil

    folder, _ = graded
    copy = tmp_path / "course"
    shutil.copytree(folder, copy)
    a = "ps1_param_groups"
    before = json.loads((copy / "flags" / a / "perfect.json").read_text())
    assert before["score"] == before["max_score"]
    shutil.copy(SAMPLES / a / "os_exit.ipynb", copy / "submitted" / "perfect" / a / f"{a}.ipynb")
    r = autograder_cli("grade", a, "--student", "perfect", "--instructor", copy, "--quiet",
                       cwd=tmp_path, timeout=600)
    assert r.returncode == 0, r.stderr
    after = json.loads((copy / "flags" / a / "perfect.json").read_text())
    assert after["status"] == "not graded" and after["score"] == 0
    with open(copy / "grades.csv", "w"):
        pass
    r = autograder_cli("export", "--instructor", copy, cwd=tmp_path, timeout=120)
    assert r.returncode == 0, r.stderr
    with open(copy / "grades.csv", newline="") as f:
        row = next(r for r in csv.DictReader(f) if r["student"] == "perfect")
    assert row["score"] == "0" and row["status"] == "not graded" and "kernel died" in row["flags"]
    assert not (copy / "autograded" / "perfect" / a).exists()


def test_a_student_cannot_carry_hidden_tests_into_its_feedback(graded):
    """leaks_to_feedback records every cell its kernel runs and prints it base64-encoded: hidden
    judges (the checks, with their keys) never entered that kernel, so nothing of them shows."""
    from autograder import probes
    import nbformat

    folder, _ = graded
    a = "ps1_param_groups"
    html = (folder / "feedback" / "leaks_to_feedback" / a / f"{a}.html").read_text(encoding="utf-8")
    blobs = re.findall(r"LEAK:([A-Za-z0-9+/=]+)", html)
    assert blobs, "the sample printed nothing: it no longer tests the leak"
    decoded = "\n".join(base64.b64decode(b).decode("utf-8", "replace") for b in blobs)
    source = nbformat.read(ROOT / "solutions" / a / f"{a}.ipynb", as_version=4)
    hidden = [t for t in probes.tests_of(source).values() if t.hidden]
    assert hidden
    for test in hidden:
        for line in test.check_source.splitlines()[1:]:
            if len(line.strip()) > 12 and not line.strip().startswith("#"):
                assert line.strip() not in decoded, f"{test.grade_id}'s judge reached the kernel"
