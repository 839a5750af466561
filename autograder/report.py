"""The demo's report: a few lines per assignment, the per-student table fitted to a width, and
the same as an inert HTML page (``summary.html``) that links each student's feedback page.

Scores are shown against the *autograded* points: the points of answers graded by hand in
formgrader are named as such ("manual: 3 pts"), never left as a mystery gap in "10/13".
"""
from __future__ import annotations

import html
import urllib.parse
from dataclasses import dataclass, field

from .grade import TABLE_WIDTH as WIDTH, table
from .record import GRADED, NEEDS_MANUAL, NOT_GRADED

CSP = ("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
       "style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'\">")


@dataclass
class Assignment:
    """What one assignment's grading produced, as the report needs it."""
    name: str
    rows: list[dict]                    # export rows (autograder.export.rows) of this assignment
    auto_points: float                  # points of the autograded test cells
    manual_points: float                # points of the answers graded by hand
    pending: dict[str, float] = field(default_factory=dict)   # student -> hand-graded pts due
    seconds: float = 0.0
    samples: int = 0                    # samples in autograder/samples/ (the tour may grade fewer)

    def of(self, *statuses: str) -> list[dict]:
        return [r for r in self.rows if r["status"] in statuses]

    def mean(self) -> float:
        """The mean score of the students whose autograding finished."""
        auto = self.of(GRADED, NEEDS_MANUAL)
        return sum(float(r["score"]) for r in auto) / len(auto) if auto else 0.0


def points(sources: dict) -> tuple[float, float]:
    """(autograded, hand-graded) points of an assignment's source notebooks (nbgrader metadata:
    a graded cell that is also a solution is an answer graded by hand)."""
    auto = manual = 0.0
    for nb in sources.values():
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade"):
                if meta.get("solution"):
                    manual += float(meta.get("points", 0))
                else:
                    auto += float(meta.get("points", 0))
    return auto, manual


def pending_manual(course, assignment: str) -> dict[str, float]:
    """Points of each student's answers that wait for a grader in formgrader."""
    from nbgrader.api import Gradebook
    with Gradebook(course.db_url, course.course_id) as gb:
        return {sub.student.id: sum(float(g.max_score) for nb in sub.notebooks for g in nb.grades
                                    if g.needs_manual_grade)
                for sub in gb.find_assignment(assignment).submissions}


def _names(rows: list[dict], room: int) -> str:
    """The rows' students, as many as fit in ``room`` characters, then "(+N more)"."""
    names = [r["student"] for r in rows]
    for n in range(len(names), -1, -1):
        text = ", ".join(names[:n]) + (f" (+{len(names) - n} more)" if n < len(names) else "")
        if len(text) <= room or n == 0:
            return text.lstrip() or "-"
    return "-"


def duration(seconds: float) -> str:
    m, s = divmod(round(seconds), 60)
    return f"{m} min {s:02d} s" if m else f"{s} s"


def lines(a: Assignment) -> list[str]:
    """The assignment's summary: students, graded, not graded, flagged, manual, mean score."""
    auto = a.of(GRADED, NEEDS_MANUAL)
    tour = (f"; a tour of {len(a.rows)} of {a.samples} samples" if 0 < len(a.rows) < a.samples
            else "")
    head = f"{a.name}: {len(a.rows)} students graded in {duration(a.seconds)}{tour}"
    hand = (f"; {a.manual_points:g} more are graded by hand in formgrader" if a.manual_points
            else "")
    flagged = [r for r in a.rows if r["flagged"] == "yes"]
    out = [head,
           f"  graded      {len(auto):3}  mean {a.mean():.2f} of {a.auto_points:g} autograded "
           f"points{hand}",
           f"  not graded  {len(a.of(NOT_GRADED)):3}  {_names(a.of(NOT_GRADED), WIDTH - 19)}",
           f"  flagged     {len(flagged):3}  {_names(flagged, WIDTH - 19)}"]
    manual = a.of(NEEDS_MANUAL)
    if a.manual_points:
        due = sorted({a.pending.get(r["student"], 0.0) for r in manual})
        pts = "/".join(f"{p:g}" for p in due) or f"{a.manual_points:g}"
        say = f"  manual      {len(manual):3}  {pts} pts each await a grader in formgrader: "
        out.append(say + _names(manual, WIDTH - len(say)))
    return [line if len(line) <= WIDTH else line[:WIDTH - 2] + " …" for line in out]


def _score(a: Assignment, r: dict) -> str:
    return f"{float(r['score']):g}/{a.auto_points:g}" if a.manual_points else \
        f"{r['score']}/{r['max_score']}"


def _status(a: Assignment, r: dict) -> str:
    if r["status"] == NEEDS_MANUAL:
        return f"manual: {a.pending.get(r['student'], a.manual_points):g} pts"
    return r["status"]


def details(a: Assignment, width: int = WIDTH) -> str:
    """The assignment's per-student table, its flags column wrapped to fit ``width``."""
    rows = [(r["student"], _score(a, r), _status(a, r), r["flags"] or "-") for r in a.rows]
    legend = (f"(scores of the {a.auto_points:g} autograded points; 'manual: N pts' await a "
              "grader in formgrader)" if a.manual_points else "")
    return "\n".join(filter(None, [f"{a.name}", legend,
                                   table(rows, ("student", "score", "status", "flags"), width)]))


def text(assignments: list[Assignment], *, details_too: bool = False) -> str:
    blocks = ["\n".join(lines(a)) for a in assignments]
    if details_too:
        blocks += [details(a) for a in assignments]
    return "\n\n".join(blocks)


def page(assignments: list[Assignment], feedback_exists) -> str:
    """The report as a static HTML page: no script, everything escaped, a CSP that allows none;
    each student links to their feedback page (``feedback_exists(student, assignment)``)."""
    e = html.escape
    parts = [f"<!DOCTYPE html><html lang=\"en\"><head>{CSP}<meta charset=\"utf-8\">"
             "<title>Grading summary</title><style>body{font:15px/1.4 system-ui,sans-serif;"
             "margin:1.5em;max-width:70em}table{border-collapse:collapse;margin-bottom:2em}"
             "td,th{border-bottom:1px solid #ddd;padding:.2em .6em;text-align:left;"
             "vertical-align:top}pre{background:#f6f6f6;padding:.6em}.flags{color:#8a3b00}"
             "td:nth-child(2),td:nth-child(3){white-space:nowrap}"
             "</style></head><body><h1>Grading summary</h1><table><tr><th>assignment</th>"
             "<th>students</th><th>graded</th><th>not graded</th><th>flagged</th>"
             "<th>manual grading due</th><th>mean of the autograded points</th></tr>"]
    for a in assignments:
        cells = (len(a.rows), len(a.of(GRADED, NEEDS_MANUAL)), len(a.of(NOT_GRADED)),
                 sum(r["flagged"] == "yes" for r in a.rows), len(a.of(NEEDS_MANUAL)),
                 f"{a.mean():.2f} of {a.auto_points:g}")
        parts.append(f"<tr><td><a href=\"#{e(a.name)}\">{e(a.name)}</a></td>"
                     + "".join(f"<td>{e(str(c))}</td>" for c in cells) + "</tr>")
    parts.append("</table>")
    for a in assignments:
        parts.append(f"<h2 id=\"{e(a.name)}\">{e(a.name)}</h2><pre>{e(chr(10).join(lines(a)[1:]))}"
                     "</pre><table><tr><th>student</th><th>score</th><th>status</th>"
                     "<th>flags</th></tr>")
        for r in a.rows:
            name = e(r["student"])
            if feedback_exists(r["student"], a.name):
                href = "/".join(urllib.parse.quote(p, safe="")
                                for p in ("feedback", r["student"], a.name, f"{a.name}.html"))
                name = f"<a href=\"{e(href)}\">{name}</a>"
            parts.append(f"<tr><td>{name}</td><td>{e(_score(a, r))}</td><td>{e(_status(a, r))}"
                         f"</td><td class=\"flags\">{e(r['flags'] or '-')}</td></tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts)
