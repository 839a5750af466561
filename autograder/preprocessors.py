"""The nbgrader preprocessors the course adds to feedback: hidden tests redacted, markdown inert."""
from __future__ import annotations

import re

from nbgrader.preprocessors import NbGraderPreprocessor as Preprocessor  # enabled by default

from .probes import HIDDEN_BEGIN, HIDDEN_END, is_test_cell

HIDDEN_NOTE = "# (hidden tests: not shown in feedback)"


def strip_hidden(source: str) -> str:
    """A test cell's source with every hidden-test region replaced by one comment line."""
    pattern = re.compile(rf"^[ \t]*{re.escape(HIDDEN_BEGIN)}.*?^[ \t]*{re.escape(HIDDEN_END)}[^\n]*",
                         re.S | re.M)
    out = pattern.sub(HIDDEN_NOTE, source)
    if HIDDEN_BEGIN in out:  # an unterminated region: drop everything after it
        out = out.split(HIDDEN_BEGIN)[0] + HIDDEN_NOTE
    return out


class RedactHidden(Preprocessor):
    """Feedback must not show hidden tests or answer keys. nbgrader's feedback prints the
    autograded notebook, whose test cells hold the hidden tests again, and tracebacks quote
    their lines. For each test cell with hidden tests: the hidden region becomes one comment
    line, and an error keeps only its type and message (no traceback lines)."""

    def preprocess_cell(self, cell, resources, index):
        if not is_test_cell(cell):
            return cell, resources
        if HIDDEN_BEGIN not in cell.source and HIDDEN_NOTE not in cell.source:
            return cell, resources
        cell.source = strip_hidden(cell.source)
        for out in cell.get("outputs", []):
            if out.output_type == "error":
                message = f"{out.ename}: {out.evalue}" if out.evalue else out.ename
                out.traceback = [message]
        return cell, resources


MARKDOWN_TAGS = {"a", "abbr", "b", "blockquote", "br", "code", "del", "div", "em", "h1", "h2",
                 "h3", "h4", "h5", "h6", "hr", "i", "img", "kbd", "li", "ol", "p", "pre", "s",
                 "span", "strong", "sub", "sup", "table", "tbody", "td", "th", "thead", "tr", "ul"}
MARKDOWN_ATTRIBUTES = {"a": ["href", "title"], "img": ["src", "alt", "title"], "code": ["class"],
                       "th": ["align"], "td": ["align"]}   # no id: nothing can take a test's anchor
LINKS = ("http://", "https://", "mailto:", "#")


def _markdown_attribute(tag: str, name: str, value: str) -> bool:
    """Links go to the web or within the page; images are data (pasted images): no data:
    document, no script URL, nothing fetched from the network."""
    if (tag, name) == ("a", "href"):
        return value.strip().lower().startswith(LINKS)
    if (tag, name) == ("img", "src"):
        return value.strip().lower().startswith("data:image/")
    if name == "class" and tag in ("div", "span"):   # syntax highlighting: pygments' token classes
        return re.fullmatch(r"highlight[\w-]*|[a-z]{1,3}", value) is not None
    return name in MARKDOWN_ATTRIBUTES.get(tag, ())


def _without_remote_images(html: str) -> str:
    """Each image the page would fetch (its src is not data:, so bleach dropped it) as its alt
    text: the Colab badge becomes a link that reads "Open In Colab", not a broken image."""
    def alt(m):                  # bleach writes every attribute as name="value", " escaped
        attributes = dict(re.findall(r'\s([\w:-]+)="([^"]*)"', m.group(1)))
        return m.group(0) if "src" in attributes else attributes.get("alt", "")
    return re.sub(r'<img((?:\s+[\w:-]+="[^"]*")*)\s*/?>', alt, html)


class SanitizeMarkdown(Preprocessor):
    """Markdown cells as sanitised HTML: the tags markdown makes, links to the web or the page,
    images by data URL (a pasted image, a cell attachment, becomes a data URL; an image from the
    web shows as its alt text: feedback fetches nothing), no script, style, frame, form, event
    handler, id, or class but highlighting's (nothing that restyles the page or takes a test's
    anchor)."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "markdown":
            import bleach
            from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath
            renderer = IPythonRenderer(escape=False, attachments=cell.get("attachments", {}))
            html = MarkdownWithMath(renderer=renderer).render(cell.source)
            cell.source = _without_remote_images(bleach.clean(
                html, tags=MARKDOWN_TAGS, attributes=_markdown_attribute,
                protocols={"http", "https", "mailto", "data"}, strip=True))
        return cell, resources


def feedback_preprocessors() -> list:
    from nbgrader.converters import GenerateFeedback

    return [RedactHidden, SanitizeMarkdown, *GenerateFeedback.class_traits()["preprocessors"].make_dynamic_default()]


def configure_feedback(c) -> None:
    """nbgrader's generate_feedback set up to make the course's pages (autograder/feedback.py):
    for ``python -m autograder feedback`` and for formgrader's Generate Feedback alike."""
    from .feedback import FeedbackExporter

    c.GenerateFeedback.preprocessors = feedback_preprocessors()
    c.GenerateFeedback.exporter_class = FeedbackExporter
    c.FeedbackExporter.sanitize_html = True      # not every HTMLExporter: the formgrader's pages are one
