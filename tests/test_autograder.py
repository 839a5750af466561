"""The autograder's parts: release reproducibility, no answers in exercises/, the scan,
the preprocessors, collect, and clear one-line errors from the command line."""
from __future__ import annotations

import json
import re
import zipfile

import nbformat
import pytest

from conftest import ROOT, autograder_cli
from autograder import scan
from autograder.course import AutograderError, Course
from autograder.preprocessors import HIDDEN_NOTE, RedactHidden, SanitizeMarkdown, strip_hidden

ASSIGNMENTS = Course().assignments()
VOLATILE_CELL_KEYS = {"execution", "collapsed", "scrolled", "jp-MarkdownHeadingCollapsed"}


def _normalised(path) -> str:
    nb = json.loads(path.read_text(encoding="utf-8"))
    for cell in nb.get("cells", []):
        for key in VOLATILE_CELL_KEYS:
            cell.get("metadata", {}).pop(key, None)
    return json.dumps(nb, indent=1, sort_keys=True)


def _regions(source: str, begin: str, end: str) -> list[str]:
    out, inside = [], False
    for line in source.splitlines():
        if begin in line:
            inside = True
        elif end in line:
            inside = False
        elif inside and len(line.strip()) >= 8 and not line.strip().startswith("#"):
            out.append(line.strip())
    return out


def test_assignments_exist():
    assert "ps1_param_groups" in ASSIGNMENTS


@pytest.fixture(scope="module")
def fresh_release(tmp_path_factory):
    from autograder.release import generate

    course = Course(instructor=tmp_path_factory.mktemp("instructor"))
    target = tmp_path_factory.mktemp("release")
    for a in ASSIGNMENTS:
        generate(course, a, release_to=target)
    return target


@pytest.mark.grading
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_exercises_are_what_release_regenerates(fresh_release, assignment):
    committed = sorted((ROOT / "exercises" / assignment).rglob("*"))
    regenerated = sorted((fresh_release / assignment).rglob("*"))
    rel = lambda ps, base: [p.relative_to(base) for p in ps if p.is_file()]  # noqa: E731
    assert rel(committed, ROOT / "exercises" / assignment) == rel(regenerated, fresh_release / assignment), \
        f"exercises/{assignment} has other files than a fresh release: run python -m autograder release {assignment}"
    for new in (p for p in regenerated if p.is_file()):
        old = ROOT / "exercises" / assignment / new.relative_to(fresh_release / assignment)
        if new.suffix == ".ipynb":
            assert _normalised(old) == _normalised(new), \
                f"{old.relative_to(ROOT)} differs from a fresh release: run python -m autograder release {assignment}"
        else:
            assert old.read_bytes() == new.read_bytes(), f"{old.relative_to(ROOT)} differs"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_no_solution_or_hidden_test_text_in_exercises(assignment):
    released = {p.name: p.read_text(encoding="utf-8") for p in (ROOT / "exercises" / assignment).glob("*.ipynb")}
    assert released, f"exercises/{assignment} is missing: run python -m autograder release {assignment}"
    for src in (ROOT / "solutions" / assignment).glob("*.ipynb"):
        text = released[src.name]
        for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
            assert marker not in text, f"{marker!r} in exercises/{assignment}/{src.name}"
        released_sources = [c.source for c in nbformat.reads(text, as_version=4).cells]
        for cell in nbformat.read(src, as_version=4).cells:
            secret = (_regions(cell.source, "### BEGIN SOLUTION", "### END SOLUTION")
                      + _regions(cell.source, "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"))
            for line in secret:
                if any(line in s for s in released_sources) and not any(
                        line in s for s in _visible_parts(src)):
                    pytest.fail(f"exercises/{assignment}/{src.name} shows answer line {line!r}")


def _visible_parts(src) -> list[str]:
    """Source text outside every solution / hidden region (a line may legitimately repeat there)."""
    out = []
    for cell in nbformat.read(src, as_version=4).cells:
        text = re.sub(r"### BEGIN SOLUTION.*?### END SOLUTION", "", cell.source, flags=re.S)
        out.append(re.sub(r"### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS", "", text, flags=re.S))
    return out


# --- the tampering scan -----------------------------------------------------------------------
def _nb(*sources, solution=True):
    cells = [nbformat.v4.new_code_cell(s) for s in sources]
    for c in cells:
        c.metadata["nbgrader"] = {"solution": solution, "grade": False, "grade_id": "x", "locked": False}
    return nbformat.v4.new_notebook(cells=cells)


@pytest.mark.parametrize("code,what", [
    ("import torch\ntorch.allclose = lambda *a, **k: True", "patches torch.allclose"),
    ("import math\nmath.isclose = lambda *a, **k: True", "patches math.isclose"),
    ("import numpy as np\nnp.isclose = print", "patches np.isclose"),
    ("import torch\ntorch.Tensor.max = lambda s: 0", "patches torch.Tensor.max"),
    ("import torch\nsetattr(torch, 'allclose', print)", "calls setattr()"),
    ("exec('x = 1')", "calls exec()"),
    ("float = int", "shadows the builtin float"),
    ("def isinstance(a, b):\n    return True", "shadows the builtin isinstance"),
    ("import sys\nsys.modules['torch'] = None", "writes into sys.modules"),
    ("import builtins", "imports builtins"),
    ("type(1.0).__eq__ = None", "assigns __eq__"),
    ("get_ipython().events.register('pre_run_cell', print)", "uses .events"),
    ("!rm -rf /", "runs a shell command"),
    ("open('../../../gradebook.db', 'wb')", "refers to grader files"),
    ("import os\nos._exit(1)", "calls os._exit()"),
    ("import sys\nsys.exit()", "calls sys.exit()"),
])
def test_scan_finds(code, what):
    found = [str(f) for f in scan.tampering(_nb(code))]
    assert any(what in f for f in found), found


def test_scan_rebinding_a_name_the_tests_use():
    src = _nb("### BEGIN SOLUTION\ndef answer(): return 1\n### END SOLUTION")
    test = nbformat.v4.new_code_cell("assert helper(answer()) == 1")
    test.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "grade_id": "t", "points": 1}
    src.cells.append(test)
    sub = _nb("def answer(): return 2\nhelper = lambda x: 1")
    found = [str(f) for f in scan.tampering(sub, src)]
    assert any("rebinds helper" in f for f in found) and not any("answer" in f for f in found), found


@pytest.mark.parametrize("path", sorted((ROOT / "solutions").glob("*/*.ipynb")), ids=lambda p: p.parent.name)
def test_scan_passes_the_solutions(path):
    """No false alarm on the instructor's own answers (the setup cell, %pip, loops, prints)."""
    nb = nbformat.read(path, as_version=4)
    assert scan.tampering(nb, nb) == []


# --- preprocessors ------------------------------------------------------------------------------
def test_markdown_in_feedback_keeps_its_text_and_loses_its_scripts():
    cell = nbformat.v4.new_markdown_cell("# Title\n\n**bold** <script>alert(1)</script>"
                                         "<img src=x onerror=alert(1)> [a](javascript:alert(1))\n\n"
                                         "| a | b |\n|---|---|\n| 1 | 2 |")
    cell, _ = SanitizeMarkdown().preprocess_cell(cell, {}, 0)
    assert "<strong>bold</strong>" in cell.source and "<table>" in cell.source
    assert "<script" not in cell.source and "onerror" not in cell.source and "javascript:" not in cell.source


def test_markdown_in_feedback_cannot_link_a_document_restyle_or_take_an_anchor():
    cell = nbformat.v4.new_markdown_cell(
        "## Mine\n\n[open](data:text/html,<b>x</b>) [web](https://pytorch.org) [up](#top) "
        '<span class="alert alert-success">Score: 14 / 14</span> <h2 id="test-lr-of-hidden">x</h2> '
        '![pasted](data:image/png;base64,AAAA) <img src="data:text/html,x">\n\n```python\nx = 1\n```')
    html, _ = SanitizeMarkdown().preprocess_cell(cell, {}, 0)
    html = html.source
    assert "data:text/html" not in html and "alert" not in html and 'id="' not in html
    assert 'href="https://pytorch.org"' in html and 'href="#top"' in html
    assert 'src="data:image/png;base64,AAAA"' in html and 'class="highlight"' in html


def test_feedback_pages_forbid_scripts_and_say_not_graded_yet():
    from autograder.feedback import CSP, inert, pending_manual
    page = inert("<!DOCTYPE html><html><head><title>x</title><script>1</script></head></html>")
    assert page.index(CSP) < page.index("<script>") and "script-src" not in CSP and "default-src 'none'" in CSP
    html = ('<h4>nb (Score: 10.0 / 13.0)</h4><li><a href="#explain">Written response</a> (Score: 0.0 / 3.0)</li>'
            '<a name="explain"></a><div class="panel-heading"><span>Student\'s answer</span>'
            '<span class="pull-right">Score: 0.0 / 3.0 <a href="#top">(Top)</a></span>')
    out = pending_manual(html, {"explain": 3.0})
    assert "Score: 0.0 / 3.0" not in out and out.count("not graded yet") == 3


def test_the_leak_check_reads_the_text_a_browser_shows():
    from autograder.feedback import leaks
    line = "opt = make_optimizer(m)"
    for page in (f"<pre>{line}</pre>", '<pre>opt = make_<abbr title="a>b"></abbr>optimizer(m)</pre>',
                 "<p>x</p>\n<span>opt</span> = make_optimizer(m)<!-- a comment -->\n"):
        assert leaks(page, [line, "not on the page at all"]) == [line], page
    assert leaks("<p>opt = make_optimizer(m) + 1</p>", [line]) == []   # whole lines only


def test_flags_are_printable():
    from autograder.export import printable
    assert printable("kernel died (\x1b[31mred\x07)") == "kernel died (\\x1b[31mred\\x07)"


def test_redact_hidden_keeps_visible_part_and_error_message_only():
    src = ('# Test (q1, 1 point)\nassert q1 in "ABCD", "a letter"\n### BEGIN HIDDEN TESTS\n'
           'assert q1 == "B", "q1: not the right answer"\n### END HIDDEN TESTS')
    cell = nbformat.v4.new_code_cell(src)
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": "t", "points": 1}
    cell.outputs = [nbformat.v4.new_output("error", ename="AssertionError", evalue="q1: not the right answer",
                                           traceback=['----> 4 assert q1 == "B", "q1: not the right answer"'])]
    cell, _ = RedactHidden().preprocess_cell(cell, {}, 0)
    assert '"B"' not in cell.source and HIDDEN_NOTE in cell.source and "a letter" in cell.source
    assert cell.outputs[0].traceback == ["AssertionError: q1: not the right answer"]
    assert strip_hidden("a\n### BEGIN HIDDEN TESTS\nsecret") == "a\n" + HIDDEN_NOTE


# --- collect ---------------------------------------------------------------------------------
def test_collect_layouts(tmp_path):
    from autograder.collect import collect

    nb = (ROOT / "exercises" / "ps1_param_groups" / "ps1_param_groups.ipynb").read_bytes()
    down = tmp_path / "down"
    (down / "bob" / "ps1_param_groups").mkdir(parents=True)
    (down / "alice.ipynb").write_bytes(nb)
    (down / "bob" / "ps1_param_groups" / "ps1_param_groups.ipynb").write_bytes(nb)
    (down / "carol").mkdir()
    (down / "carol" / "my work.ipynb").write_bytes(nb)
    (down / "notes.txt").write_text("hi")
    archive = tmp_path / "subs.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for p in down.rglob("*"):
            z.write(p, p.relative_to(down))
    for source in (down, archive):
        course = Course(instructor=tmp_path / f"inst-{source.suffix or 'dir'}")
        assert collect(course, "ps1_param_groups", source, quiet=True) == ["alice", "bob", "carol"]
        for s in ("alice", "bob", "carol"):
            got = course.step("submitted") / s / "ps1_param_groups"
            assert (got / "ps1_param_groups.ipynb").read_bytes() == nb
            assert (got / "timestamp.txt").exists()


def test_collect_refuses_a_zip_that_escapes_its_folder_or_bombs(tmp_path, monkeypatch):
    from autograder import collect as collect_module

    nb = (ROOT / "exercises" / "ps1_param_groups" / "ps1_param_groups.ipynb").read_bytes()
    course = Course(instructor=tmp_path / "inst")
    for name, members in [("escapes", {"../x/alice.ipynb": nb}), ("absolute", {"/tmp/alice.ipynb": nb}),
                          ("bomb", {f"s{i}.ipynb": nb for i in range(3)})]:
        archive = tmp_path / f"{name}.zip"
        with zipfile.ZipFile(archive, "w") as z:
            for member, data in members.items():
                z.writestr(member, data)
        if name == "bomb":
            monkeypatch.setattr(collect_module, "MAX_MEMBERS", 2)
        with pytest.raises(AutograderError, match="unsafe path|unpacks to more"):
            collect_module.collect(course, "ps1_param_groups", archive, quiet=True)
    assert not course.step("submitted").exists() or not any(course.step("submitted").iterdir())


def test_collect_skips_links_and_refuses_odd_ids(tmp_path, capsys):
    from autograder.collect import collect

    nb = (ROOT / "exercises" / "ps1_param_groups" / "ps1_param_groups.ipynb").read_bytes()
    secret = tmp_path / "gradebook.ipynb"
    secret.write_text("host file")
    down = tmp_path / "down"
    (down / "bob").mkdir(parents=True)
    (down / "alice.ipynb").write_bytes(nb)
    (down / "mallory.ipynb").symlink_to(secret)
    (down / "bob" / "ps1_param_groups.ipynb").symlink_to(secret)
    course = Course(instructor=tmp_path / "inst")
    assert collect(course, "ps1_param_groups", down) == ["alice"]
    assert "mallory.ipynb (a link)" in capsys.readouterr().out
    for bad in ("x" * 101, "-rf", "a b", "ü"):
        (tmp_path / bad).mkdir()
        (tmp_path / bad / f"{bad}.ipynb").write_bytes(nb)
        with pytest.raises(AutograderError, match="cannot use"):
            collect(course, "ps1_param_groups", tmp_path / bad)


# --- one-line errors ---------------------------------------------------------------------------
@pytest.mark.parametrize("args,message", [
    (["release", "nope"], "unknown assignment 'nope'"),
    (["grade", "nope"], "unknown assignment 'nope'"),
    (["collect", "ps1_param_groups", "{empty}"], "no submissions"),
    (["collect", "ps1_param_groups", "{text}"], "neither a folder nor a .zip"),
    (["collect", "ps1_param_groups", "{missing}"], "does not exist"),
    (["grade", "ps1_param_groups"], "no submissions of ps1_param_groups"),
    (["feedback", "ps1_param_groups"], "nothing graded"),
    (["export"], "no grades"),
])
def test_instructor_errors_are_one_line(tmp_path, args, message):
    (tmp_path / "empty").mkdir()
    (tmp_path / "text").write_text("not a zip")
    paths = {"empty": tmp_path / "empty", "text": tmp_path / "text", "missing": tmp_path / "nope"}
    args = [a.format(**paths) for a in args]
    r = autograder_cli(*args, "--instructor", tmp_path / "inst", cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], r.stderr


def test_help_lists_commands():
    r = autograder_cli("--help")
    assert r.returncode == 0
    for command in ("release", "collect", "grade", "feedback", "export", "demo"):
        assert command in r.stdout


def test_table_wraps_its_last_column_to_the_width():
    from autograder.grade import table
    flags = "; ".join(f"patches torch.thing_{i} (cell {i})" for i in range(8))
    text = table([("a_long_student_name", "10/13", "graded", flags), ("b", "0/13", "not graded", "-")],
                 ("student", "score", "status", "flags"), 60)
    lines = text.splitlines()
    assert max(map(len, lines)) <= 60
    start = lines[0].index("flags")
    assert all(l[:start].strip() == "" for l in lines[3:-1])      # continuation lines: flags only
    assert " ".join(l[start:] for l in lines[2:-1]).split() == flags.split()   # nothing lost
    assert lines[-1].split() == ["b", "0/13", "not", "graded", "-"]
    assert table([("x", "y")], ("h1", "h2")).splitlines()[2] == "x   y"   # no width: as before


def _report_assignment(manual: float):
    from autograder.report import Assignment
    rows = [{"student": s, "assignment": "ps9", "score": sc, "max_score": "13", "status": st,
             "flagged": "yes" if fl else "no", "flags": fl}
            for s, sc, st, fl in [("perfect", "10", "needs manual grading", ""),
                                  ("os_exit", "0", "not graded", "kernel died (os._exit): not graded"),
                                  ("wrong", "2", "graded", ""),
                                  ("cheat", "0", "graded", "; ".join(["patches torch.allclose"] * 9))]]
    return Assignment("ps9", rows, auto_points=13 - manual, manual_points=manual,
                      pending={"perfect": manual}, seconds=75, samples=10)


def test_report_names_manual_points_as_such():
    from autograder.report import WIDTH, details, lines
    a = _report_assignment(manual=3)
    summary = lines(a)
    assert summary[0] == "ps9: 4 students graded in 1 min 15 s; a tour of 4 of 10 samples"
    assert summary[1].split() == "graded 3 mean 4.00 of 10 autograded points; 3 more are graded " \
                                 "by hand in formgrader".split()
    assert summary[2].split() == ["not", "graded", "1", "os_exit"]
    assert summary[3].split() == ["flagged", "2", "os_exit,", "cheat"]
    assert summary[4].split()[:2] == ["manual", "1"] and "3 pts each await a grader" in summary[4]
    table = details(a)
    assert max(map(len, table.splitlines())) <= WIDTH
    row = next(l for l in table.splitlines() if l.startswith("perfect"))
    assert row.split() == ["perfect", "10/10", "manual:", "3", "pts", "-"]   # not a mystery 10/13
    no_manual = _report_assignment(manual=0)
    assert len(lines(no_manual)) == 4 and "by hand" not in "\n".join(lines(no_manual))
    assert "perfect  10/13" in details(no_manual)


def test_report_page_is_inert_and_links_feedback():
    from autograder.report import page
    a = _report_assignment(manual=3)
    a.rows[2]["student"] = "<img src=x onerror=alert(1)>"
    html = page([a], lambda student, assignment: student != "os_exit")
    assert html.index("Content-Security-Policy") < html.index("<title>")
    assert "default-src 'none'" in html and "<script" not in html and "<img" not in html
    assert '<a href="feedback/perfect/ps9/ps9.html">perfect</a>' in html
    assert 'href="feedback/os_exit' not in html               # no page: no link
    assert "%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E" in html   # the odd name, quoted


def test_demo_tour_covers_every_assignment():
    from autograder.demo import TOUR, sample_assignments, samples
    names = {f.stem for a in sample_assignments() for f in samples(a, every=True)}
    assert set(TOUR) <= names, f"tour samples that do not exist: {set(TOUR) - names}"
    for a in sample_assignments():
        tour = {f.stem for f in samples(a)}
        assert {"perfect", "untouched", "wrong"} <= tour and any(s.startswith("cheat") for s in tour), a
