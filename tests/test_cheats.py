"""Cheats score no more than honest wrong answers; correct answers in other styles score full marks.

The scores themselves are asserted by tests/test_grading.py (every sample grades to its
expected.json); this file checks what those expectations promise, for every assignment whose
samples include `cheat_*` notebooks: every in-kernel cheat family of autograder.samplekit is
there, each expected at or below `wrong`, `wrong` below full marks, and `alt_correct_*`
at full autograded marks.
"""
from __future__ import annotations

import pytest

from autograder.samplekit import CHEATS
from test_grading import SAMPLES, _expected
from test_grading import _auto_points as _full_marks


WITH_CHEATS = sorted({p.parent.name for p in SAMPLES.glob("*/cheat_*.ipynb")})


@pytest.mark.parametrize("assignment", WITH_CHEATS)
def test_every_cheat_family_is_sampled(assignment):
    names = set(_expected(assignment))
    missing = sorted(set(CHEATS) - names)
    assert not missing, f"{assignment}: no sample for cheat families {missing}"
    assert "wrong" in names, f"{assignment}: cheats need a `wrong` sample to be compared with"
    assert "cheat_tensor_subclass" in names, f"{assignment}: no tensor-subclass cheat"


@pytest.mark.parametrize("assignment", WITH_CHEATS)
def test_cheats_score_no_more_than_wrong(assignment):
    expected = _expected(assignment)
    wrong = expected["wrong"]["score"]
    assert wrong < _full_marks(assignment), f"{assignment}: `wrong` is expected at full marks"
    above = {s: e["score"] for s, e in expected.items() if s.startswith("cheat_") and e["score"] > wrong}
    assert not above, f"{assignment}: cheats expected above wrong ({wrong}): {above}"


@pytest.mark.parametrize("assignment", WITH_CHEATS)
def test_alternative_correct_answers_get_full_marks(assignment):
    expected = _expected(assignment)
    alternatives = {s: e for s, e in expected.items() if s.startswith("alt_correct_")}
    assert len(alternatives) >= 2, f"{assignment}: needs two alternative correct samples"
    for student, e in alternatives.items():
        assert e["score"] == _full_marks(assignment) and e["flags"] == [], student
