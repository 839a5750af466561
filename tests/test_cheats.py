"""Every assignment's cheat samples score no more than its honest wrong answer, and its
alternative right answers get full marks.

`tests/test_grading.py` grades every sample and requires the score in its `expected.json`; here
those expectations are held to the issue's rules, for every assignment with a `wrong` sample:
one `cheat_<family>` sample per in-kernel family of `autograder.samplekit.CHEATS` plus at least one
of the exercise's own (e.g. a Tensor subclass), each expected to score at most what `wrong`
scores, and `alt_correct_1`, `alt_correct_2` (right answers in other styles) at full autograded
marks without flags. So a cheat that scores more than `wrong` fails test_grading or this file.
"""
from __future__ import annotations

import json

import nbformat
import pytest

from autograder.samplekit import CHEATS
from conftest import ROOT

SAMPLES = ROOT / "autograder" / "samples"


def _expected(assignment: str) -> dict:
    return json.loads((SAMPLES / assignment / "expected.json").read_text())


ASSIGNMENTS = sorted(p.name for p in SAMPLES.iterdir() if (p / "expected.json").exists())


def _autograded_points(assignment: str) -> float:
    nb = nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    return sum(float(c.metadata["nbgrader"].get("points", 0)) for c in nb.cells
               if c.metadata.get("nbgrader", {}).get("grade") and not c.metadata["nbgrader"].get("solution"))


@pytest.fixture(params=ASSIGNMENTS)
def expected(request):
    e = _expected(request.param)
    cheats = [s for s in e if s.startswith("cheat_")]
    if "wrong" not in e:
        assert not cheats, f"{request.param}: cheat samples {cheats} need a 'wrong' sample to compare with"
        pytest.skip(f"{request.param} has no 'wrong' sample yet (not ported to probe/judge)")
    return request.param, e


def test_every_cheat_family_has_a_sample(expected):
    assignment, e = expected
    missing = sorted(set(CHEATS) - set(e))
    assert not missing, f"{assignment}: no sample for {missing} (autograder.samplekit.cheats)"
    own = [s for s in e if s.startswith("cheat_") and s not in CHEATS]
    assert own, f"{assignment}: add a cheat of the exercise's own (e.g. cheat_tensor_subclass)"


def test_no_cheat_scores_more_than_the_wrong_answer(expected):
    assignment, e = expected
    wrong = e["wrong"]["score"]
    assert wrong < _autograded_points(assignment), f"{assignment}: 'wrong' is not wrong"
    better = {s: v["score"] for s, v in e.items() if s.startswith("cheat_") and v["score"] > wrong}
    assert not better, f"{assignment}: cheats expected to beat the honest wrong answer ({wrong}): {better}"


def test_alternative_right_answers_get_full_marks(expected):
    assignment, e = expected
    full = _autograded_points(assignment)
    for name in ("alt_correct_1", "alt_correct_2"):
        assert name in e, f"{assignment}: no {name} sample (a right answer in another style)"
        assert e[name]["score"] == full and e[name]["flags"] == [], f"{assignment}/{name}: {e[name]}"
