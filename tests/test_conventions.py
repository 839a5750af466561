"""Every notebook in lessons/, solutions/ and exercises/ follows the course conventions."""
from __future__ import annotations

import re

import nbformat
import pytest

from conftest import ROOT, notebooks, repository_url

ALL = notebooks("lessons", "solutions", "exercises")
BADGE = "https://colab.research.google.com/assets/colab-badge.svg"


def _id(path):
    return str(path.relative_to(ROOT))


def _opened_path(path) -> str:
    """The path a student opens on Colab: a solution's released twin in exercises/."""
    rel = path.relative_to(ROOT)
    return str(rel).replace("solutions/", "exercises/", 1) if rel.parts[0] == "solutions" else str(rel)


def test_there_are_notebooks():
    assert any(p.parts[-2] == "lessons" for p in ALL), "lessons/ has no notebooks"


@pytest.mark.parametrize("path", ALL, ids=_id)
def test_valid_and_stripped(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", "kernelspec must be python3"
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"cell {i} has outputs: strip them (make strip)"
            assert cell.execution_count is None, f"cell {i} has an execution count: strip it"


@pytest.mark.parametrize("path", ALL, ids=_id)
def test_title_and_colab_badge(path):
    first = nbformat.read(path, as_version=4).cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# "), \
        "the first cell must be a markdown title ('# ...')"
    links = re.findall(r"\]\((https://colab\.research\.google\.com/github/[^)]+)\)", first.source)
    assert BADGE in first.source and links, "the first cell needs the 'Open in Colab' badge"
    repo = repository_url().removeprefix("https://github.com/")
    expected = f"https://colab.research.google.com/github/{repo}/blob/main/{_opened_path(path)}"
    assert links == [expected], f"badge must link to {expected}"


@pytest.mark.parametrize("path", ALL, ids=_id)
def test_setup_cell_installs_from_the_one_repository(path):
    setup = nbformat.read(path, as_version=4).cells[1]
    assert setup.cell_type == "code", "cell 1 must be the setup cell"
    assert 'if "google.colab" in sys.modules:' in setup.source, "install only on Colab"
    installs = re.findall(r'%pip install -q "lrlab @ git\+(\S+)"', setup.source)
    assert installs == [repository_url()], \
        f"the setup cell must install lrlab from {repository_url()} (pyproject's Repository URL)"
    assert "ipywidgets" not in setup.source, "the Colab setup must not upgrade ipywidgets"
