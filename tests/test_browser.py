"""End to end in a real browser: JupyterLab runs lesson 05, the lab renders, a slider retrains it.

The lab's figure is SVG shown at its own size (sharp at any pixel ratio: the page runs at 2),
a run keeps its colour when another is added, ``Clear runs`` empties the history, and the
controls show the settings of the run on screen after ``lab.set`` from a cell.

Chromium is Debian's (``/usr/bin/chromium``, installed by ``.ci/run``); Playwright drives it.
The server gets a free port on 127.0.0.1, a token, and fresh settings, workspace and runtime
folders; it works on a COPY of the lesson (saving writes outputs) and is stopped, kernels and
all, whatever happens. Screenshots go to test-artifacts/.
"""
from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import urllib.request

import nbformat
import pytest

from conftest import (ARTIFACTS, ROOT, free_port, jupyterlab_page, needs_chromium, stop_group,
                      wait_until_up)

LESSON = ROOT / "lessons" / "05_live_lab.ipynb"
SET_FROM_CODE = 'lab.set(dataset="tiny", epochs=4)'     # appended to the copy: the controls must follow
# Limits, 3x what they guard at load 7-9 on the 2-core machine (2026-12-08): a wait for the page
# (the longest: lesson 05 running all its cells) passed under 60 s, so 180 s; the test, server
# start and stop included, took 188 s (158 s in the browser), so 600 s.
TIMEOUT_MS = 180_000

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]


def _request(url: str, token: str, data: dict | None = None):
    body = None if data is None else json.dumps(data).encode()
    req = urllib.request.Request(url, data=body, method="GET" if data is None else "POST",
                                 headers={"Authorization": f"token {token}",
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as response:
        return json.loads(response.read() or b"null")


@pytest.fixture
def jupyterlab(tmp_path):
    """A JupyterLab server on a copy of lesson 05; yields (base_url, token, notebook name)."""
    work, settings = tmp_path / "work", tmp_path / "settings"
    work.mkdir()
    lesson = nbformat.read(LESSON, as_version=4)
    lesson.cells.append(nbformat.v4.new_code_cell(SET_FROM_CODE))
    nbformat.write(lesson, work / "lab.ipynb")
    notify = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    notify.parent.mkdir(parents=True)
    notify.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    port, token = free_port(), secrets.token_hex(16)
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
           "CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": str(ROOT)}
    log = open(tmp_path / "server.log", "wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}", "--allow-root",
         "--LabApp.news_url=None", f"--LabApp.user_settings_dir={settings}",
         f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}", "--LabApp.expose_app_in_browser=True",
         "--ServerApp.port_retries=0"],
        cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(server, lambda: _request(f"{base}/api/status", token), tmp_path / "server.log",
                      "JupyterLab")
        # a kernel session before the page opens: no "Select Kernel" dialog to race with
        _request(f"{base}/api/sessions", token, {"path": "lab.ipynb", "name": "lab.ipynb",
                                                  "type": "notebook", "kernel": {"name": "python3"}})
        yield base, token, "lab.ipynb"
    finally:
        stop_group(server)
        log.close()


def _legend(page) -> dict[str, str]:
    """The lab's legend: run number ('#12') -> its colour, the run on screen last."""
    return {text.split()[0]: colour for text, colour in page.locator(".lrlab-run").evaluate_all(
        "rows => rows.map(r => [r.textContent.trim(), r.dataset.colour])")}


@needs_chromium
def test_lesson_05_lab_renders_and_a_slider_retrains(jupyterlab, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    base, token, name = jupyterlab
    ARTIFACTS.mkdir(exist_ok=True)
    start = time.monotonic()
    with sync_playwright() as p, jupyterlab_page(
            p, tmp_path / "chromium-profile", ARTIFACTS / "browser_failure.png", timeout_ms=TIMEOUT_MS,
            viewport={"width": 1400, "height": 1000}, device_scale_factor=2) as page:
        page.goto(f"{base}/lab/tree/{name}?token={token}")
        status = page.locator("#jp-main-statusbar")
        expect(status).to_contain_text("Python 3 (ipykernel) | Idle")
        page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        # the lesson's last cell prints the heatmap's best pair: all cells ran
        expect(page.locator(".jp-OutputArea-output").filter(has_text="best pair: body")).to_have_count(1)
        expect(status).to_contain_text("Idle")
        assert page.get_by_text("Error displaying widget").count() == 0
        errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
        assert errors.count() == 0, errors.first.inner_text()
        assert page.locator(".jp-OutputArea-executeResult").filter(has_text="False").count() == 0   # quiz cells

        # lab.set(...) in the last cell retrained, and the controls show that run
        lab_status = page.locator(".widget-html").filter(has_text="epochs on").first
        expect(lab_status).to_contain_text(", tiny — 4 epochs on")
        expect(page.locator(".widget-dropdown").filter(has_text="dataset").locator("select")).to_have_value("tiny")
        expect(page.locator(".widget-slider").filter(has_text="epochs").locator(".widget-readout")).to_have_text("4")

        image = page.locator("img.widget-image").first
        image.scroll_into_view_if_needed()
        shown = image.evaluate("""async img => ({type: (await (await fetch(img.src)).blob()).type,
            natural: img.naturalWidth, width: img.clientWidth, dpr: window.devicePixelRatio})""")
        assert shown["type"] == "image/svg+xml" and shown["dpr"] == 2, shown   # sharp at any ratio
        assert abs(shown["natural"] - shown["width"]) <= 1, f"the figure is stretched: {shown}"

        before, colours = image.get_attribute("src"), _legend(page)
        on_screen = list(colours)[-1]
        handle = page.locator(".noUi-handle").first        # the body lr slider
        handle.focus()
        handle.press("ArrowRight")
        expect(image).not_to_have_attribute("src", before)
        expect(page.get_by_text("training…")).to_have_count(0)
        expect(lab_status).not_to_contain_text(on_screen + " ")
        after = _legend(page)
        assert after[on_screen] == colours[on_screen], (colours, after)   # kept its colour
        assert all(after[run] == colours[run] for run in after if run in colours), (colours, after)
        assert list(after)[-1] not in colours and after[list(after)[-1]] != colours[on_screen]
        page.locator(".widget-vbox").first.screenshot(path=str(ARTIFACTS / "lab_after.png"))

        page.get_by_role("button", name="Clear runs").click()
        expect(page.locator(".lrlab-run")).to_have_count(1)
        assert list(_legend(page)) == [list(after)[-1]]
    print(f"browser e2e: {time.monotonic() - start:.1f} s")

