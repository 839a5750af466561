"""Every notebook in lessons/, solutions/ and exercises/ follows the course conventions."""
from __future__ import annotations

import re

import nbformat
import pytest

from conftest import ROOT, notebooks, repository_url

ALL = notebooks("lessons", "solutions", "exercises")
LESSONS = notebooks("lessons")
COLAB_LINK = "[Open in Colab]("   # a text link: a remote badge image is broken offline


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
    assert COLAB_LINK in first.source and links, "the first cell needs the '[Open in Colab](...)' link"
    assert not re.search(r"!\[|<img", first.source), "no image in the title cell: offline it is broken"
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


# The myths the course corrects come from a popular online quiz, and the course says so in those
# words: "seed" means a random seed here, and the course never made those claims itself.
QUIZ_SOURCE_MISNAMED = re.compile(
    r"seed[ _-]?(text|quiz|table|notes)|\bthe seed['’]s\b|\bquiz notes\b|course['’]s (own |seed )?quiz"
    r"|\bseed\.txt\b", re.IGNORECASE)


def _misnamings(text: str) -> list[str]:
    return [m.group(0) for m in QUIZ_SOURCE_MISNAMED.finditer(text)]


def test_the_quiz_source_pattern_catches_every_variant():
    for wrong in ("the seed text", "The seed quiz's advice", "the seed's table", "seed_table",
                  "the course's quiz notes", "the seed’s answer", "The seed's five epochs", "seed.txt"):
        assert _misnamings(wrong), wrong
    for fine in ("a popular online quiz", "the seed changes the head", "seed=0", "SEEDS = range(8)",
                 "on 8 seeds", "seed_val", "make_model(seed)"):
        assert not _misnamings(fine), fine


@pytest.mark.parametrize("path", ALL, ids=_id)
def test_the_quiz_is_called_a_popular_online_quiz(path):
    """Lessons: every cell. Exercises and solutions: the markdown a student reads (their code
    cells belong to the grading tests)."""
    cells = nbformat.read(path, as_version=4).cells
    checked = [c for c in cells if path.relative_to(ROOT).parts[0] == "lessons" or c.cell_type == "markdown"]
    found = {i: _misnamings(c.source) for i, c in enumerate(cells) if c in checked and _misnamings(c.source)}
    assert not found, f"say 'a popular online quiz', not {found}"


def test_the_readme_calls_the_quiz_a_popular_online_quiz():
    found = _misnamings((ROOT / "README.md").read_text(encoding="utf-8"))
    assert not found, f"README.md: say 'a popular online quiz', not {found}"


@pytest.mark.parametrize("path", LESSONS, ids=_id)
def test_a_prediction_is_checked_by_a_collapsed_cell(path):
    """The cell right after a prediction's answer states the answer (its asserts): its code is
    collapsed in JupyterLab, a form in Colab, and hidden on the site, until the student runs it."""
    cells = nbformat.read(path, as_version=4).cells
    for i, cell in enumerate(cells[:-1]):
        after = cells[i + 1]
        if cell.cell_type == "code" and "lrlab.quiz.check(" in cell.source and after.cell_type == "code":
            meta = after.metadata
            assert meta.get("jupyter", {}).get("source_hidden") is True, f"cell {i + 1}: not collapsed"
            assert meta.get("colab", {}).get("cellView") == "form", f"cell {i + 1}: not a Colab form"
            assert "hide-input" in meta.get("tags", []), f"cell {i + 1}: no hide-input tag"
            assert after.source.startswith("# @title "), f"cell {i + 1}: no # @title line"
