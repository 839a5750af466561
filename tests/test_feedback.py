"""Feedback for every honest student: the leak check reads only what the student did not write,
a pasted image shows, and a page that would show hidden test lines is that student's flag alone;
the page's index names each test, and only a page with maths runs a script: the vendored MathJax.

A few submissions built from the release (``samplekit.Kit``) are graded by the real command line
in a temporary instructor folder; ``feedback`` and ``export`` then run over them.
"""
from __future__ import annotations

import base64
import csv
import hashlib
import json

import nbformat
import pytest

from autograder import sandbox
from autograder.feedback import CSP
from autograder.samplekit import Kit, cell, insert_after
from conftest import ROOT, autograder_cli

PS1, PS2 = "ps1_param_groups", "ps2_default_lr"
NO_SANDBOX = sandbox.problem()
needs_sandbox = pytest.mark.skipif(NO_SANDBOX is not None, reason=f"no sandbox here: {NO_SANDBOX}")
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC"
# the student's own cell: every cell's code printed after it runs, the hidden tests' probes too
PRINTS_EVERY_CELL = '''seen = []
get_ipython().input_transformers_cleanup.append(lambda lines: seen.append("".join(lines)) or lines)
get_ipython().events.register("post_run_cell", lambda result: print(seen[-1]))'''


def _ps1() -> dict:
    kit = Kit(PS1)
    honest = kit.solved()      # writes a hidden probe's line in its answer and in its markdown
    cell(honest, "make-optimizer").source += "\n\nm = model\nopt = make_optimizer(m)\nprint(opt)"
    insert_after(honest, "make-optimizer", "I tried it:\n\n    opt = make_optimizer(m)", markdown=True)
    leaker = kit.solved()
    insert_after(leaker, "setup-imports", PRINTS_EVERY_CELL)
    pasted = kit.solved()      # after the leaker: feedback goes through students in sorted order
    insert_after(pasted, "make-optimizer", "My sketch:\n\n![image.png](attachment:image.png)",
                 markdown=True)
    image = next(c for c in pasted.cells if "attachment:" in c.source)
    image.attachments = {"image.png": {"image/png": PNG}}
    return {"honest": honest, "leaker": leaker, "pasted_image": pasted}


def _ps2() -> dict:
    nb = Kit(PS2).solved()
    answer = cell(nb, "resume")
    answer.source = "import torch.nn.functional as F\n\n" + answer.source
    return {"imports_f": nb}


@pytest.fixture(scope="module")
def fed(tmp_path_factory):
    """Each assignment's submissions collected, graded and given feedback; then the export:
    (instructor folder, {assignment: the feedback command's result}, {(assignment, student): row})."""
    work = tmp_path_factory.mktemp("feedback")
    course, runs = work / "course", {}
    for assignment, submissions in ((PS1, _ps1()), (PS2, _ps2())):
        downloads = work / assignment
        downloads.mkdir()
        for student, nb in submissions.items():
            nbformat.write(nb, downloads / f"{student}.ipynb")
        for args in (("collect", assignment, downloads),
                     ("grade", assignment, "--quiet", "--timeout", "10")):
            r = autograder_cli(*args, "--instructor", course, cwd=work)
            assert r.returncode == 0, r.stderr[-3000:]
        runs[assignment] = autograder_cli("feedback", assignment, "--instructor", course, cwd=work)
    assert autograder_cli("export", "--instructor", course, cwd=work).returncode == 0
    with open(course / "grades.csv", newline="") as f:
        rows = {(r["assignment"], r["student"]): r for r in csv.DictReader(f)}
    return course, runs, rows


def _page(course, assignment: str, student: str) -> str:
    page = course / "feedback" / student / assignment / f"{assignment}.html"
    return page.read_text(encoding="utf-8")


@pytest.mark.grading
@needs_sandbox
@pytest.mark.parametrize("assignment,student,line", [
    (PS1, "honest", "opt = make_optimizer(m)"), (PS2, "imports_f", "import torch.nn.functional as F")])
def test_an_honest_student_who_writes_a_hidden_line_gets_a_page(fed, assignment, student, line):
    from autograder.course import Course
    from autograder.feedback import hidden_lines, leaks

    course, _, rows = fed
    assert line in hidden_lines(Course(instructor=course), assignment)
    assert leaks(_page(course, assignment, student), [line]) == [line]   # their own code, shown
    row = rows[(assignment, student)]
    full = json.loads((ROOT / "autograder" / "samples" / assignment / "expected.json").read_text())
    assert float(row["score"]) == full["perfect"]["score"] and row["flagged"] == "no", row
    assert not (course / "flags" / assignment / f"{student}.feedback.txt").exists()


@pytest.mark.grading
@needs_sandbox
def test_a_pasted_image_shows_as_a_data_image_in_an_inert_page(fed):
    course, _, rows = fed
    page = _page(course, PS1, "pasted_image")
    assert f'src="data:image/png;base64,{PNG}"' in page and "attachment:" not in page
    assert page.index(CSP) < page.index("<title>")
    assert rows[(PS1, "pasted_image")]["flagged"] == "no"


@pytest.mark.grading
@needs_sandbox
def test_a_page_that_would_leak_is_that_students_flag_and_the_others_get_theirs(fed):
    course, runs, rows = fed
    r = runs[PS1]
    assert r.returncode == 1, r.stderr
    assert "wrote 2 feedback file(s)" in r.stdout
    assert "no feedback for leaker: the page would show hidden test lines" in r.stderr
    assert not list((course / "feedback").glob(f"leaker/{PS1}/*"))
    for student in ("honest", "pasted_image"):
        assert _page(course, PS1, student)
    assert "hidden test lines" in (course / "flags" / PS1 / "leaker.feedback.txt").read_text()
    row = rows[(PS1, "leaker")]
    assert row["score"] == row["max_score"] and row["flagged"] == "yes"
    assert "no feedback: the page would show hidden test lines" in row["flags"]
    assert runs[PS2].returncode == 0, runs[PS2].stderr


@pytest.mark.grading
@needs_sandbox
def test_formgraders_generate_feedback_makes_the_same_inert_pages(fed, monkeypatch):
    """The instructor's nbgrader_config.py (the hub's formgrader) renders with our exporter: the
    hidden lines read from the source, the page inert and labelled, a leaking page refused."""
    from nbgrader.apps.api import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config.loader import PyFileConfigLoader

    course, _, _ = fed
    monkeypatch.setenv("LRLAB_INSTRUCTOR", str(course))
    monkeypatch.setenv("LRLAB_COURSE_REPO", str(ROOT))
    config = PyFileConfigLoader("nbgrader_config.py",
                                path=str(ROOT / "classroom" / "config" / "instructor")).load_config()
    config.CourseDirectory.feedback_directory = "formgrader_feedback"   # beside the CLI's pages
    api = NbGraderAPI(CourseDirectory(config=config), config=config)
    assert api.generate_feedback(PS1, "honest", force=True)["success"]
    page = (course / "formgrader_feedback" / "honest" / PS1 / f"{PS1}.html").read_text(encoding="utf-8")
    assert page.index(CSP) < page.index("<title>") and "Visible test:" in page
    assert page == _page(course, PS1, "honest")
    leaked = api.generate_feedback(PS1, "leaker", force=True)
    assert not leaked["success"] and "hidden test lines" in leaked["log"]


# --- the page itself (no grading needed) ------------------------------------------------------
NBGRADER_HEAD = ("<html><head><title>t</title><!-- Load mathjax -->\n<script src=\"https://cdn/x.js\"> "
                 "</script>\n<script type=\"text/x-mathjax-config\">init()</script>\n"
                 "<!-- End of mathjax configuration --></head><body>")


def test_the_index_names_each_test_by_its_own_description():
    from autograder.feedback import label, labelled
    from autograder.preprocessors import RedactHidden

    nb = nbformat.read(ROOT / "solutions" / PS1 / f"{PS1}.ipynb", as_version=4)
    for c in nb.cells:
        RedactHidden().preprocess_cell(c, {}, 0)          # as the page shows them
    tests = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id", "").startswith("test-")]
    index = "".join(f'<li><a href="#{c.metadata.nbgrader.grade_id}">Test cell</a> (Score: 0.0 / 1.0)</li>'
                    for c in tests)
    out = labelled(index, nb)
    assert "Test cell" not in out and out.count("<li>") == len(tests) == 11
    assert ('<a href="#test-make-optimizer-visible">Visible test: an SGD with two groups, every '
            'parameter in exactly one.</a>') in out
    assert '<a href="#test-lr-of-hidden">Hidden test: a float; ValueError for a part' in out
    assert '<a href="#test-quiz-q1">Quiz q1</a> (Score: 0.0 / 1.0)' in out and "hidden tests" not in out
    bare = nbformat.v4.new_code_cell("run_test(probe, judge)")
    bare.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": "test-lr_of"}
    assert label(bare) == "test lr of"
    bare.source = "# <b>Test</b> & more\n" + bare.source
    assert labelled('<a href="#test-lr_of">Test cell</a>', nbformat.v4.new_notebook(cells=[bare])) \
        == '<a href="#test-lr_of">&lt;b&gt;Test&lt;/b&gt; &amp; more</a>'


def test_a_page_with_maths_says_so_where_mathjax_is_not_installed(monkeypatch, tmp_path):
    from autograder import feedback

    monkeypatch.setattr(feedback, "MATHJAX", tmp_path / "tex-svg.js")
    page, scripts = feedback.with_maths(NBGRADER_HEAD, maths=True)
    assert scripts == () and feedback.NO_MATHJAX in page and "<script" not in page


def test_only_a_page_with_maths_runs_a_script_and_only_the_vendored_mathjax():
    from autograder.feedback import CSP, MATHJAX, csp, has_maths, inert, with_maths

    if not MATHJAX.is_file():
        pytest.skip(f"MathJax is not installed ({MATHJAX}): npm ci --prefix classroom")
    plain, scripts = with_maths(NBGRADER_HEAD, maths=False)
    assert scripts == () and "<script" not in plain and inert(plain).count(CSP) == 1
    page, (script,) = with_maths(NBGRADER_HEAD, maths=True)
    assert page.count("<script") == 1 and f"<script>{script}</script>" in page and "https://cdn/" not in page
    assert "window.MathJax" in script and len(script) > 1_000_000        # MathJax itself, inlined
    policy = csp((script,))
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert policy.endswith(f"; script-src 'sha256-{digest}'\">") and "unsafe" not in policy.split("script-src")[1]
    assert inert(page, (script,)).index(policy) < inert(page, (script,)).index("<title>")
    markdown = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("costs $\\eta\\,g$")])
    assert has_maths(markdown)
    markdown.cells[0].source = "no maths, $ 5"
    markdown.cells.append(nbformat.v4.new_code_cell("x = '$a$'"))     # code is never typeset
    assert not has_maths(markdown)


def test_markdown_images_from_the_web_show_as_their_alt_text():
    from autograder.preprocessors import SanitizeMarkdown

    cell = nbformat.v4.new_markdown_cell(
        "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/x)"
        ' ![pasted](data:image/png;base64,AAAA) <img src="x" onerror="y"> <img alt="a&quot;<b>" title="q>r" src="http://e/i">')
    html = SanitizeMarkdown().preprocess_cell(cell, {}, 0)[0].source
    assert '<a href="https://colab.research.google.com/x">Open In Colab</a>' in html
    assert 'src="data:image/png;base64,AAAA"' in html and html.count("<img") == 1
    assert "a&quot;&lt;b>" in html and "onerror" not in html and "http://e" not in html and "q>r" not in html
