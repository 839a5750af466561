"""Feedback pages as a student opens them, in Chromium: the `graded` fixture's pages (the demo
over every sample), opened from disk as a student opens the HTML file nbgrader hands back.

A failing test shows the test's own line, the judge's line that failed and the message, never a
grader frame or an instructor's path; the index names each test; TeX in a markdown cell is
typeset by the page's own MathJax, and nothing the student wrote runs. Screenshots go to
test-artifacts/.
"""
from __future__ import annotations

import pytest

from conftest import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, ROOT, needs_chromium

PS1 = "ps1_param_groups"
pytestmark = [pytest.mark.browser, pytest.mark.grading, pytest.mark.timeout(300), needs_chromium]


def _open(p, path):
    """(browser, page, console messages) for a feedback page opened from disk."""
    assert path.exists(), f"no feedback page {path}"
    browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    messages = []
    page.on("console", lambda m: messages.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: messages.append(f"pageerror: {e}"))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    return browser, page, messages


def _page(folder, student: str):
    return folder / "feedback" / student / PS1 / f"{PS1}.html"


def test_a_failing_test_shows_the_students_terms_and_the_page_its_maths(graded):
    """``partial``'s page: its failing visible test, the index, its maths note, a quiet console."""
    from playwright.sync_api import expect, sync_playwright

    folder, _ = graded
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser, page, messages = _open(p, _page(folder, "partial"))
        try:
            notes = page.locator(".text_cell_render").filter(has_text="My notes")
            expect(notes.locator("mjx-container")).to_have_count(4, timeout=20_000)   # 3 inline, 1 display
            assert "\\theta" not in notes.inner_text() and "$" not in notes.inner_text()

            cell = page.locator("div.cell").filter(has=page.locator('a[name="test-fixed-visible"]'))
            error = cell.locator(".output_error")
            shown = error.inner_text()
            assert "----> 12 run_test(probe, judge)" in shown, shown
            assert 'in judge\n----> 9     assert not findings, f"the audit still finds:\\n{findings}"' in shown
            assert "AssertionError: the audit still finds:\naudit: 2 problem(s)" in shown
            text = page.locator("body").inner_text()
            for grader in ("lrlab/probe.py", "_lrlab_probe", "noqa", str(ROOT), "report(probe"):
                assert grader not in text, grader

            index = page.locator("#toc li a").all_inner_texts()
            assert "Test cell" not in index and len(index) == 11, index
            assert index[0] == "Visible test: an SGD with two groups, every parameter in exactly one."
            assert index[3] == "Hidden test: a float; ValueError for a part in no group or split across lrs."
            assert index[6:] == [f"Quiz q{i}" for i in range(1, 6)]
            assert page.get_by_role("link", name="Open In Colab").count() == 1     # the badge, as text

            error.scroll_into_view_if_needed()
            cell.screenshot(path=str(ARTIFACTS / "feedback_failing_cell.png"))
            page.locator("#toc").screenshot(path=str(ARTIFACTS / "feedback_index.png"))
            notes.screenshot(path=str(ARTIFACTS / "feedback_maths.png"))
        finally:
            browser.close()
    assert not messages, messages         # nothing blocked, nothing failed to load


def test_feedback_runs_no_student_script(graded):
    """The script-injection sample's feedback page, opened in Chromium: its <script>, onerror
    and JavaScript output never run, and its text is still there to read, also with the
    page's MathJax running (its markdown has maths, with a javascript: \\href)."""
    from playwright.sync_api import expect, sync_playwright

    folder, _ = graded
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser, page, messages = _open(p, _page(folder, "script_injection"))
        try:
            expect(page.locator("mjx-container")).to_have_count(2, timeout=20_000)   # MathJax ran
            page.wait_for_timeout(1000)      # an onerror fires after the image fails to load
            assert page.evaluate("typeof window.pwned") == "undefined", page.evaluate("window.pwned")
            assert page.get_by_text("My notes").count() >= 1
            assert page.locator("mjx-container a, a[href^='javascript']").count() == 0
            page.screenshot(path=str(ARTIFACTS / "feedback_script_injection.png"), full_page=False)
        finally:
            browser.close()
    assert not [m for m in messages if "pwned" in m]
