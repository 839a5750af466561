"""The demo's summary as an instructor opens it: ``summary.html`` of the `graded` fixture's
folder in Chromium: every assignment's summary, each student linked to a feedback page that
exists, nothing runs; a screenshot for the closing note."""
from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from conftest import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, needs_chromium

pytestmark = [pytest.mark.browser, pytest.mark.grading, pytest.mark.timeout(300), needs_chromium]


def test_demo_summary_page_links_feedback(graded):
    from playwright.sync_api import sync_playwright

    from autograder.demo import sample_assignments

    folder, _ = graded
    summary = folder / "summary.html"
    assert summary.exists(), "the demo wrote no summary.html"
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                    args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(summary.as_uri())
            page.wait_for_load_state("load")
            headings = page.locator("h2").all_inner_texts()
            assert headings == sample_assignments()
            block = [l.split()[0] for l in page.locator("pre").first.inner_text().splitlines()]
            assert block[:3] == ["graded", "not", "flagged"], block
            overview = page.locator("table").first.locator("a").all_inner_texts()
            assert overview == headings, "the overview lists every assignment"
            links = page.locator("td > a[href^='feedback/']").evaluate_all(
                "as => as.map(a => a.href)")
            assert len(links) >= 100, f"only {len(links)} feedback links"
            for href in links:
                target = Path(unquote(urlparse(href).path))
                assert target.is_file() and folder.resolve() / "feedback" in target.parents, href
            assert page.evaluate("document.scripts.length") == 0
            page.screenshot(path=str(ARTIFACTS / "demo_summary.png"), full_page=False)
            page.get_by_role("link", name="perfect").first.click()
            page.wait_for_load_state("load")
            assert page.url.endswith("/feedback/perfect/ps1_param_groups/ps1_param_groups.html")
        finally:
            browser.close()
    assert not errors, errors
