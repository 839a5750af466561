"""``feedback``: one HTML page per student: hidden tests redacted, nothing from the student live.

nbgrader's generate_feedback renders the autograded notebook. On top of it:
* ``RedactHidden`` (autograder.preprocessors) replaces hidden-test regions and cuts tracebacks
  of hidden tests to one line; as a last line of defence every page is checked for the text of
  every hidden-test line before it is kept (a page that would leak is deleted and reported);
* inert pages: outputs are sanitised by nbconvert (``HTMLExporter.sanitize_html``), markdown
  cells by ``SanitizeMarkdown`` (autograder.preprocessors), and every page
  starts with a Content-Security-Policy that allows no script at all;
* an answer that waits for manual grading says "not graded yet", not "Score: 0".
"""
from __future__ import annotations

import re
from pathlib import Path

from .course import AutograderError, Course
from .probes import HIDDEN_BEGIN, HIDDEN_END

CSP = ("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
       "style-src 'unsafe-inline'; img-src data:; font-src data:; base-uri 'none'; "
       "form-action 'none'\">")
def inert(html: str) -> str:
    """The page with the Content-Security-Policy as the first element of its head."""
    head = re.search(r"<head[^>]*>", html, re.I)
    if not head:
        return CSP + html
    return html[:head.end()] + CSP + html[head.end():]


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
    hidden, visible = [], set()
    for nb in course.source_notebooks(assignment).values():
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


def leaks(html: str, lines: list[str]) -> list[str]:
    """The hidden-test lines that appear as a line of the page's text."""
    import html as html_mod
    text = html_mod.unescape(re.sub(r"<[^>]+>", "", html))
    shown = {" ".join(line.split()) for line in text.splitlines()}
    return [line for line in lines if " ".join(line.split()) in shown]


def _pending(course: Course, assignment: str, student: str, notebook: str) -> dict[str, float]:
    from nbgrader.api import Gradebook
    with Gradebook(course.db_url, course.course_id) as gb:
        nb = gb.find_submission_notebook(notebook, assignment, student)
        return {g.name: float(g.max_score) for g in nb.grades
                if g.needs_manual_grade and g.manual_score is None and g.auto_score is None}


def feedback(course: Course, assignment: str, students: list[str] | None = None) -> list[Path]:
    from .record import GRADED, Result, result_path

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
    secret = hidden_lines(course, assignment)
    out = []
    for s in graded:
        result = api.generate_feedback(assignment, s, force=True)
        if not result["success"]:
            print(f"no feedback for {s}: nbgrader failed")
            continue
        for page in sorted((course.step("feedback") / s / assignment).glob("*.html")):
            html = page.read_text(encoding="utf-8", errors="replace")
            found = leaks(html, secret)
            if found:
                page.unlink()
                raise AutograderError(f"feedback for {s} would show hidden test lines "
                                      f"({found[0]!r}); deleted it")
            html = pending_manual(inert(html), _pending(course, assignment, s, page.stem))
            page.write_text(html, encoding="utf-8")
            out.append(page)
    return out
