"""``feedback``: one HTML page per student: hidden tests redacted, nothing from the student live.

nbgrader's generate_feedback renders the autograded notebook. On top of it:
* ``RedactHidden`` (autograder.preprocessors) replaces hidden-test regions and cuts tracebacks
  of hidden tests to one line;
* a leak check, as a last line of defence (``FeedbackExporter``): the page is rendered a second
  time from the same notebook without the source of any cell but the test cells, so what is
  checked is everything the student did not write -- the outputs of every cell (student code
  can print during a test), the test cells' sources as shown, nbgrader's own text. If a line of
  it is a line of a hidden test (``hidden_lines``), no page is written. A student's own answer
  cells and markdown are not checked: they show only what the student handed in;
* inert pages: outputs are sanitised by nbconvert (``sanitize_html``), markdown
  cells by ``SanitizeMarkdown`` (autograder.preprocessors; a pasted image, a cell attachment,
  becomes a data: URL), and every page starts with a Content-Security-Policy that fetches
  nothing and allows no script, but on a page with maths the one inline MathJax it carries
  (allowed by its SHA-256);
* in the student's terms: the index names each test by its own description (``label``), and a
  failed test shows its own line and message (``autograder.probes.apply`` made its error);
* an answer that waits for manual grading says "not graded yet", not "Score: 0".

A page that cannot be made (nbgrader fails, or the page would show a hidden line) is that
student's problem only: nothing is left in its folder, the reason is printed and kept in
``flags/<assignment>/<student>.feedback.txt`` (the export shows it as a flag), and the next
student's page is made.
"""
from __future__ import annotations

import base64
import hashlib
import re
import shutil
import sys
from html import escape
from html.parser import HTMLParser
from pathlib import Path

from nbconvert.exporters import HTMLExporter
from traitlets import List, Unicode

from .course import REPO, AutograderError, Course
from .preprocessors import HIDDEN_NOTE
from .probes import HIDDEN_BEGIN, HIDDEN_END, is_test_cell

POLICY = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; "
          "base-uri 'none'; form-action 'none'")
CSP = f'<meta http-equiv="Content-Security-Policy" content="{POLICY}">'   # no script at all


def csp(scripts: tuple[str, ...] = ()) -> str:
    """The page's policy: ``CSP``, or with ``scripts`` exactly these inline scripts may run
    (by their SHA-256: no other script, no event handler, no ``javascript:`` URL)."""
    if not scripts:
        return CSP
    hashes = " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'"
                      for s in scripts)
    return f'<meta http-equiv="Content-Security-Policy" content="{POLICY}; script-src {hashes}">'


def inert(html: str, scripts: tuple[str, ...] = ()) -> str:
    """The page with its Content-Security-Policy (``csp``) as the first element of its head."""
    head = re.search(r"<head[^>]*>", html, re.I)
    if not head:
        return csp(scripts) + html
    return html[:head.end()] + csp(scripts) + html[head.end():]


# MathJax 3, vendored by npm (classroom/package.json): one file, SVG output (no font files),
# inlined into pages that show maths only (nbgrader's release_feedback sends students the HTML
# file alone). TeX from markdown cells only; no \require, no autoloaded extension, no menu:
# it never asks for another file.
MATHJAX = REPO / "classroom" / "node_modules" / "mathjax" / "es5" / "tex-svg.js"
MATHJAX_CONFIG = """window.MathJax = {
  tex: {inlineMath: [["$", "$"], ["\\\\(", "\\\\)"]], processEscapes: true,
        packages: {"[-]": ["require", "autoload"]}},
  options: {enableMenu: false},
  startup: {elements: [".text_cell_render"]},
  loader: {load: []}
};
"""
MATHS = re.compile(r"\$\$.+?\$\$|\$[^$\s][^$]*\$|\\\(.+?\\\)|\\\[.+?\\\]", re.S)
NO_MATHJAX = ("<!-- this page's maths shows as TeX: MathJax is not installed "
              "(npm ci --prefix classroom) -->")
NBGRADER_MATHJAX = re.compile(r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->", re.S)


def has_maths(nb) -> bool:
    """Whether a markdown cell holds TeX maths (``$...$``, ``$$...$$``, ``\\(...\\)``, ``\\[...\\]``)."""
    return any(c.cell_type == "markdown" and MATHS.search(c.source) for c in nb.cells)


def mathjax_script() -> str | None:
    """The inline script that typesets the page's maths, or None where MathJax is not installed."""
    if not MATHJAX.is_file():
        return None
    return MATHJAX_CONFIG + MATHJAX.read_text(encoding="utf-8")


def with_maths(html: str, maths: bool) -> tuple[str, tuple[str, ...]]:
    """nbgrader's MathJax tags (a CDN script the policy blocks) replaced by the vendored
    MathJax where the page has maths (``NO_MATHJAX`` where it is not installed): (page, the
    inline scripts it runs)."""
    script = mathjax_script() if maths else None
    tag = f"<script>{script}</script>" if script else NO_MATHJAX if maths else ""
    html = NBGRADER_MATHJAX.sub(lambda _: tag, html, count=1)
    return html, (script,) if script else ()


GLYPHS_FACE = re.compile(r"@font-face\s*\{\s*font-family:\s*'Glyphicons Halflings'[^}]*\}")


def glyph_font() -> str:
    """Bootstrap's glyph font for the page's CSS, from nbgrader's own copy, as a data: URL (the
    page's CSS asks for ../fonts/, which is not there and which the policy does not allow)."""
    import nbgrader
    font = (Path(nbgrader.__file__).parent / "server_extensions" / "formgrader" / "static" /
            "node_modules" / "bootstrap" / "dist" / "fonts" / "glyphicons-halflings-regular.woff2")
    if not font.is_file():
        return ""
    data = base64.b64encode(font.read_bytes()).decode("ascii")
    return ("@font-face{font-family:'Glyphicons Halflings';"
            f"src:url(data:font/woff2;base64,{data}) format('woff2')}}")


TEST_LINE = re.compile(r"Test \((visible|hidden|q\d+)[^)]*\):?\s*(.*)", re.S)


def label(cell) -> str:
    """A test cell's own description for the page's index: its leading comment
    (``# Test (visible, 1 point): what is checked`` -> ``Visible test: what is checked``),
    else its grade id made readable."""
    lines = []
    for line in cell.source.splitlines():
        if not line.startswith("#") or line.startswith("###") or line.strip() == HIDDEN_NOTE:
            break
        lines.append(line.lstrip("#").strip())
    text = " ".join(lines).strip()
    m = TEST_LINE.fullmatch(text)
    if m:
        kind, what = m.groups()
        name = f"Quiz {kind}" if kind.startswith("q") else f"{kind.capitalize()} test"
        text = f"{name}: {what}" if what else name
    text = text or cell.metadata["nbgrader"]["grade_id"].replace("-", " ").replace("_", " ")
    return text if len(text) <= 160 else text[:159] + "\u2026"


def labelled(html: str, nb) -> str:
    """The index's "Test cell" entries named by ``label``."""
    for cell in filter(is_test_cell, nb.cells):
        gid = re.escape(cell.metadata["nbgrader"]["grade_id"])
        html = re.sub(rf'(<a href="#{gid}">)Test cell(</a>)',
                      lambda m, t=escape(label(cell)): m.group(1) + t + m.group(2), html, count=1)
    return html


def pending_manual(html: str, pending: dict[str, float]) -> str:
    """Say "not graded yet" for answers that wait for a grader (nbgrader prints 0)."""
    for gid, points in pending.items():
        q = re.escape(gid)
        html = re.sub(rf'(<a href="#{q}">[^<]*</a>) \(Score: [^)]*\)',
                      rf"\1 (not graded yet, {points:g} points)", html)
        html = re.sub(rf'(<a name="{q}"></a>.*?)Score: [0-9.]+ / [0-9.]+ (<a href="#top">)',
                      rf"\1not graded yet ({points:g} points) \2", html, count=1, flags=re.S)
    if pending:
        total = sum(pending.values())
        html = re.sub(r"\(Score: ([0-9.]+) / ([0-9.]+)\)</h4>",
                      rf"(Score so far: \1 / \2; {total:g} points not graded yet)</h4>", html, count=1)
    return html


def hidden_lines(course: Course, assignment: str) -> list[str]:
    """Every non-trivial line inside a hidden-test region of the assignment's source that does
    not also appear outside the hidden regions (those are visible to students anyway)."""
    return hidden_lines_of(course.source_notebooks(assignment).values())


def hidden_lines_of(notebooks) -> list[str]:
    """``hidden_lines`` of these source notebooks."""
    hidden, visible = [], set()
    for nb in notebooks:
        for cell in nb.cells:
            inside = False
            for line in cell.source.splitlines():
                s = line.strip()
                if HIDDEN_BEGIN in s:
                    inside = True
                elif HIDDEN_END in s:
                    inside = False
                elif inside:
                    if len(s) >= 12 and not s.startswith("#"):
                        hidden.append(s)
                else:
                    visible.add(s)
    return [s for s in hidden if s not in visible]


class _Text(HTMLParser):
    """A page's text as an HTML parser reads it (a ``>`` inside an attribute hides nothing)."""

    def __init__(self):
        super().__init__()
        self.parts = []

    def handle_data(self, data):
        self.parts.append(data)


def leaks(html: str, lines: list[str]) -> list[str]:
    """The hidden-test lines that appear as a line of the page's text."""
    text = _Text()
    text.feed(html)
    text.close()
    shown = {" ".join(line.split()) for line in "".join(text.parts).splitlines()}
    return [line for line in lines if " ".join(line.split()) in shown]


class ShowsHiddenTests(Exception):
    """A feedback page would show a line of a hidden test."""


class FeedbackExporter(HTMLExporter):
    """nbgrader's feedback page, refused (``ShowsHiddenTests``) when the same page without the
    source of any cell but the test cells shows one of the ``hidden`` lines. Without ``hidden``
    (formgrader's Generate Feedback, set up by the instructor's nbgrader_config.py), they are
    read from the assignment's source in nbgrader's course directory."""

    hidden = List(Unicode(), default_value=None, allow_none=True).tag(config=True)

    def _hidden(self, resources) -> list[str]:
        if self.hidden is not None:
            return self.hidden
        import nbformat
        from nbgrader.coursedir import CourseDirectory

        coursedir = CourseDirectory(config=self.config)
        source = Path(coursedir.format_path(coursedir.source_directory, ".",
                                            resources["nbgrader"]["assignment"]))
        notebooks = sorted(source.glob("*.ipynb"))
        if not notebooks:
            raise ShowsHiddenTests(f"no source notebooks in {source}: the hidden tests cannot be "
                                   "checked, so no page is made")
        return hidden_lines_of(nbformat.read(n, as_version=4) for n in notebooks)

    def _preprocess(self, nb, resources):
        nb, resources = super()._preprocess(nb, resources)
        self._shown = nb                  # the notebook the page is rendered from
        self._maths = has_maths(nb)       # before the leak check blanks its cells
        return nb, resources

    def from_notebook_node(self, nb, resources=None, **kw):
        html, resources = super().from_notebook_node(nb, resources, **kw)
        for cell in self._shown.cells:    # rendered already: blanked in place for the check
            if not is_test_cell(cell):
                cell.source = ""
        found = leaks(self.template.render(nb=self._shown, resources=resources), self._hidden(resources))
        if found:
            raise ShowsHiddenTests(f"the page would show hidden test lines ({found[0]!r})")
        html = GLYPHS_FACE.sub(lambda _: glyph_font(), labelled(html, self._shown), count=1)
        html, scripts = with_maths(html, self._maths)
        return inert(html, scripts), resources


def failure(log: str) -> str:
    """Why nbgrader made no page: the last line of the last traceback in its log."""
    parts = log.rsplit("Traceback (most recent call last):", 1)
    # the traceback runs up to the next log record ("[WARNING] ...")
    lines = parts[1].split("\n[", 1)[0].strip().splitlines() if len(parts) == 2 else []
    if not lines:
        return "nbgrader failed"
    last = re.sub(r"^(\w+\.)+(?=\w+(:|$))", "", lines[-1].strip())   # the exception's own name
    ours = f"{ShowsHiddenTests.__name__}: "
    return last[len(ours):] if last.startswith(ours) else f"nbgrader failed ({last})"


def _pending(course: Course, assignment: str, student: str, notebook: str) -> dict[str, float]:
    from nbgrader.api import Gradebook
    with Gradebook(course.db_url, course.course_id) as gb:
        nb = gb.find_submission_notebook(notebook, assignment, student)
        return {g.name: float(g.max_score) for g in nb.grades
                if g.needs_manual_grade and g.manual_score is None and g.auto_score is None}


def feedback(course: Course, assignment: str,
             students: list[str] | None = None) -> tuple[list[Path], dict[str, str]]:
    """Each graded student's pages: (pages written, {student: why it has none})."""
    from traitlets.config import Config

    from .export import printable
    from .record import GRADED, Result, feedback_problem_path, result_path

    graded = []
    for s in students or course.students(assignment):
        path = result_path(course.instructor, assignment, s)
        if path.exists() and Result.load(path).status == GRADED:
            graded.append(s)
        elif students:
            raise AutograderError(f"{s} has no graded submission of {assignment} (run grade first)")
    if not graded:
        raise AutograderError(f"nothing graded for {assignment} yet (run grade first)")
    api = course.api()
    api.update_config(Config({"FeedbackExporter": {"hidden": hidden_lines(course, assignment)}}))
    pages, failed, raw = [], {}, []
    for s in graded:
        problem = feedback_problem_path(course.instructor, assignment, s)
        result = api.generate_feedback(assignment, s, force=True)
        if not result["success"]:
            shutil.rmtree(course.step("feedback") / s / assignment, ignore_errors=True)
            failed[s] = printable(failure(result.get("log", "")))[:300]
            problem.write_text(failed[s] + "\n", encoding="utf-8")
            print(f"no feedback for {s}: {failed[s]}", file=sys.stderr)
            continue
        problem.unlink(missing_ok=True)
        for page in sorted((course.step("feedback") / s / assignment).glob("*.html")):
            html = page.read_text(encoding="utf-8", errors="replace")
            html = pending_manual(html, _pending(course, assignment, s, page.stem))
            page.write_text(html, encoding="utf-8")
            pages.append(page)
            raw += [s] if NO_MATHJAX in html else []
    if raw:
        print(f"note: MathJax is not installed ({MATHJAX}): the maths on the pages of "
              f"{', '.join(raw)} shows as TeX; npm ci --prefix classroom installs it", file=sys.stderr)
    return pages, failed
