"""Colab's stack: the live lab with Colab's kernel-side pins, and the setup cell's Colab path.

Both run in ``.venv-colab``, built here from tests/colab/requirements.txt (Colab's ipykernel
6.17.1, IPython 7.34.0, ipywidgets 7.7.1, Notebook 6.5.7; about a minute, once; rebuilt when the
file changes). Colab's own frontend cannot run here; classic Notebook 6 with widgetsnbextension
3.6 is the frontend that renders ipywidgets 7.

1. ``from lrlab.widgets import lab; lab()`` in Notebook 6, in Chromium: the lab renders, moving
   the body slider one step retrains (a second run, body 4e-2), no widget error anywhere.
2. The notebooks' setup cell, run as it is in a kernel that imports ``google.colab`` at start:
   its ``%pip install "lrlab @ git+https://github.com/lrlab-course/lrlab"`` installs the course,
   with git told (``url.insteadOf``) to fetch that URL from this repository, so the command and
   the URL are the real ones; the install upgrades none of Colab's packages.
"""
from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import urllib.request

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import (ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, ROOT, free_port, needs_chromium, notebooks,
                      repository_url, stop_group, wait_until_up)

REQUIREMENTS = ROOT / "tests" / "colab" / "requirements.txt"
VENV = ROOT / ".venv-colab"
PYTHON = VENV / "bin" / "python"
TIMEOUT_MS = 90_000


@pytest.fixture(scope="module")
def colab_venv():
    """.venv-colab with Colab's pins; returns {package: version} as installed."""
    stamp = VENV / ".requirements-sha256"
    want = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if not stamp.exists() or stamp.read_text() != want:
        shutil.rmtree(VENV, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(PYTHON), "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS)],
                       check=True, capture_output=True)
        stamp.write_text(want)
    out = subprocess.run([str(PYTHON), "-c", "import json, importlib.metadata as m; print(json.dumps("
                          "{d: m.version(d) for d in ('ipykernel', 'ipython', 'ipywidgets', "
                          "'widgetsnbextension', 'notebook', 'tornado', 'torch')}))"],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


@pytest.fixture
def notebook6(colab_venv, tmp_path):
    """Classic Notebook 6 from .venv-colab on a one-cell lab notebook; yields (base, token)."""
    work = tmp_path / "work"
    work.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("from lrlab.widgets import lab"),
                nbformat.v4.new_code_cell("lab()")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, work / "lab.ipynb")
    port, token = free_port(), secrets.token_hex(16)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CUDA_VISIBLE_DEVICES": "",
           "JUPYTER_CONFIG_DIR": str(tmp_path / "config"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt")}
    log = open(tmp_path / "notebook.log", "wb")
    server = subprocess.Popen(
        [str(VENV / "bin" / "jupyter"), "notebook", "--no-browser", "--ip=127.0.0.1",
         f"--port={port}", f"--NotebookApp.token={token}", f"--notebook-dir={work}",
         "--allow-root", "--NotebookApp.port_retries=0"],
        cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(server, lambda: urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5),
                      tmp_path / "notebook.log", "Notebook 6")
        yield base, token
    finally:
        stop_group(server, grace=10)
        log.close()


@pytest.mark.browser
@needs_chromium
def test_the_live_lab_renders_and_retrains_with_colabs_widgets(colab_venv, notebook6):
    from playwright.sync_api import expect, sync_playwright

    base, token = notebook6
    ARTIFACTS.mkdir(exist_ok=True)
    expect.set_options(timeout=TIMEOUT_MS)
    errors = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(TIMEOUT_MS)
        page.on("console", lambda m: m.type == "error" and errors.append(m.text))
        try:
            page.goto(f"{base}/notebooks/lab.ipynb?token={token}")
            # the kernel connected and widgetsnbextension's manager listening, then run the cell
            page.wait_for_function("window.Jupyter && Jupyter.notebook && Jupyter.notebook.kernel"
                                   " && Jupyter.notebook.kernel.is_connected() && Jupyter.WidgetManager"
                                   " && Jupyter.WidgetManager._managers.length > 0")
            # the import first, then lab(): run as the very first cell of a fresh kernel while
            # widgetsnbextension 3.6 was still restoring the kernel's widgets, lab() was seen
            # to leave an empty output (model_id "") on a busy machine; a cell before it avoids that
            page.evaluate("Jupyter.notebook.execute_cells([0])")
            page.wait_for_function("Jupyter.notebook.get_cell(0).input_prompt_number === 1")
            page.evaluate("Jupyter.notebook.execute_cells([1])")
            status = page.locator(".widget-html").filter(has_text="epochs on")
            expect(status).to_contain_text("#1 SGD momentum: body 3e-2 head 3e-2")
            image = page.locator("img.widget-image")
            before = image.get_attribute("src")
            assert before and before.startswith("blob:"), "the lab's curve is an Image widget"
            page.locator(".output_area").first.screenshot(path=str(ARTIFACTS / "colab_lab_rendered.png"))

            body = page.locator(".widget-hslider").filter(has_text="body lr")
            expect(body.locator(".widget-readout")).to_have_text("3.0e-2")
            body.locator(".ui-slider-handle").focus()
            body.locator(".ui-slider-handle").press("ArrowRight")  # the next step: 10 ** -1.4
            expect(body.locator(".widget-readout")).to_have_text("4.0e-2")
            expect(status).to_contain_text("#2 SGD momentum: body 4e-2 head 3e-2")
            expect(image).not_to_have_attribute("src", before)
            page.locator(".output_area").first.screenshot(path=str(ARTIFACTS / "colab_lab_after_slider.png"))
            result = status.inner_text()
            assert page.get_by_text("Error displaying widget").count() == 0
            assert page.locator(".output_stderr, .output_error").count() == 0, "the cell wrote an error"
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "colab_failure.png"), full_page=True)
            raise
        finally:
            browser.close()
    assert not errors, f"browser console errors: {errors}"
    (ARTIFACTS / "colab_versions.txt").write_text(
        json.dumps(colab_venv, indent=1) + f"\nafter one slider step: {result}\n")


def _setup_source() -> str:
    """The setup cell every notebook shares (the first code cell)."""
    sources = {next(c.source for c in nbformat.read(p, as_version=4).cells if c.cell_type == "code")
               for p in notebooks("lessons", "exercises")}
    assert len(sources) == 1, "the notebooks' setup cells differ"
    return sources.pop()


@pytest.mark.notebook
def test_the_setup_cell_installs_the_course_from_the_repository_url_on_colab(colab_venv, tmp_path,
                                                                              monkeypatch):
    source = _setup_source()
    url = repository_url()
    assert f"git+{url}" in source
    # a Colab runtime, as far as the cell can tell: google.colab imported when the kernel starts
    fake = tmp_path / "colab_runtime"
    (fake / "google" / "colab").mkdir(parents=True)
    (fake / "google" / "colab" / "__init__.py").write_text('"""Stands in for Colab\'s package."""\n')
    gitconfig = tmp_path / "gitconfig"              # the repository URL, served from this checkout
    gitconfig.write_text(f'[url "file://{ROOT}"]\n\tinsteadOf = {url}\n')
    spec = tmp_path / "kernels" / "colab"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [str(PYTHON), "-m", "ipykernel_launcher", "-f", "{connection_file}",
                 "--IPKernelApp.exec_lines=['import google.colab']"],   # Colab's kernel does
        "display_name": "Colab's stack", "language": "python",
        "env": {"PYTHONPATH": str(fake), "GIT_CONFIG_GLOBAL": str(gitconfig),
                "PIP_DISABLE_PIP_VERSION_CHECK": "1"}}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    subprocess.run([str(PYTHON), "-m", "pip", "uninstall", "-q", "-y", "lrlab"], capture_output=True)
    check = ("import google.colab, importlib.metadata as m, json, lrlab, sys\n"
             "print(json.dumps({'lrlab': lrlab.__file__, 'colab': 'google.colab' in sys.modules,"
             " **{d: m.version(d) for d in ('ipywidgets', 'ipython', 'ipykernel', 'torch')}}))")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import importlib.util\n"
                                          "print(importlib.util.find_spec('lrlab') is None)"),
                nbformat.v4.new_code_cell(source), nbformat.v4.new_code_cell(check)]
    try:
        NotebookClient(nb, kernel_name="colab", timeout=300,
                       resources={"metadata": {"path": str(tmp_path)}}).execute()
    finally:
        subprocess.run([str(PYTHON), "-m", "pip", "uninstall", "-q", "-y", "lrlab"], capture_output=True)
    assert nb.cells[0].outputs[0]["text"].strip() == "True", "lrlab was importable before the cell ran"
    printed = "".join(o.get("text", "") for o in nb.cells[1].outputs if o["output_type"] == "stream")
    assert "lrlab trains on cpu" in printed, printed
    after = json.loads(nb.cells[2].outputs[0]["text"])
    assert after["colab"] and after["lrlab"].startswith(str(VENV)), \
        f"lrlab should come from the install into Colab's environment, not this checkout: {after}"
    for dist in ("ipywidgets", "ipython", "ipykernel", "torch"):
        assert after[dist] == colab_venv[dist], f"installing the course changed Colab's {dist}"
