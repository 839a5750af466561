"""lrlab.quiz: salted-hash self-checks and the `python -m lrlab.quiz` command."""
from __future__ import annotations

import json
import subprocess
import sys
import threading

import numpy as np
import pytest
import torch

from conftest import ROOT
from lrlab import quiz


@pytest.fixture
def hashes(tmp_path):
    path = tmp_path / "quiz_hashes.json"
    quiz.add("t.lr", 0.001, hint="read the signature", path=path)
    quiz.add("t.choice", "B", path=path)
    quiz.add("t.set", {"A", "C"}, path=path)
    quiz.add("t.flag", True, path=path)
    return path


@pytest.mark.parametrize("answer", [0.001, 1e-3, "1e-3", " 1E-3 ", "0.0010", 0.0010000001,
                                    np.float32(0.001), torch.tensor(0.001)])
def test_numbers_match_whatever_their_spelling(hashes, answer, capsys):
    assert quiz.check("t.lr", answer, path=hashes)
    assert capsys.readouterr().out == "correct: t.lr\n"


@pytest.mark.parametrize("answer", [0.01, 0.0011, "0.001 lr", None, ..., [0.001]])
def test_wrong_or_missing_answers_are_not_yet(hashes, answer, capsys):
    assert not quiz.check("t.lr", answer, path=hashes)
    out = capsys.readouterr()
    assert out.out.startswith("not yet: t.lr") and out.out.count("\n") == 1
    assert out.err == ""


def test_hint_is_printed_when_wrong(hashes, capsys):
    quiz.check("t.lr", 0.1, path=hashes)
    assert capsys.readouterr().out == "not yet: t.lr (hint: read the signature)\n"


def test_strings_ignore_case_and_spaces(hashes):
    assert quiz.check("t.choice", " b ", path=hashes)
    assert quiz.check("t.choice", "B", path=hashes)
    assert not quiz.check("t.choice", "C", path=hashes)


def test_sets_ignore_order_bools_match_text(hashes):
    assert quiz.check("t.set", {"c", "a"}, path=hashes)
    assert not quiz.check("t.set", {"a"}, path=hashes)
    assert quiz.check("t.flag", "True", path=hashes) and not quiz.check("t.flag", 1, path=hashes)


def test_unknown_question_is_a_clear_value_error(hashes):
    with pytest.raises(ValueError, match=r"unknown quiz question id 't\.nope'.*t\.choice"):
        quiz.check("t.nope", "B", path=hashes)


def test_key_is_not_readable_in_the_file(hashes):
    text = hashes.read_text()
    data = json.loads(text)
    assert set(data["t.lr"]) == {"salt", "hashes", "hint"}
    assert "0.001" not in text and '"B"' not in text
    assert data["t.lr"]["salt"] != data["t.choice"]["salt"]  # a salt per question


def test_update_replaces_and_also_adds(hashes):
    quiz.add("t.choice", "D", path=hashes)
    assert quiz.check("t.choice", "D", path=hashes) and not quiz.check("t.choice", "B", path=hashes)
    assert json.loads(hashes.read_text())["t.choice"].get("hint") is None
    quiz.add("t.choice", "E", also=True, path=hashes)
    assert quiz.check("t.choice", "D", path=hashes) and quiz.check("t.choice", "E", path=hashes)
    quiz.add("t.lr", 0.002, path=hashes)  # re-adding keeps the hint
    assert json.loads(hashes.read_text())["t.lr"]["hint"] == "read the signature"


def test_digits_per_question(tmp_path):
    path = tmp_path / "h.json"
    quiz.add("t.third", 1 / 3, digits=2, path=path)
    assert quiz.check("t.third", 0.33, path=path) and not quiz.check("t.third", 0.3, path=path)


def test_output_is_stable_and_sorted(hashes):
    before = hashes.read_text()
    quiz.add("t.flag", True, also=True, path=hashes)  # the same answer again: no change
    assert hashes.read_text() == before
    assert list(json.loads(before)) == sorted(json.loads(before)) and before.endswith("}\n")


def test_concurrent_adds_lose_nothing(tmp_path):
    path = tmp_path / "h.json"
    threads = [threading.Thread(target=quiz.add, args=(f"t.q{i}", i), kwargs={"path": path})
               for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(json.loads(path.read_text())) == 20


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "lrlab.quiz", *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=60)


def test_command_line_add_check_list(tmp_path):
    path = str(tmp_path / "h.json")
    r = _cli("add", "t.cli", "1e-3", "--hint", "small", "--file", path)
    assert r.returncode == 0, r.stderr
    assert _cli("check", "t.cli", "0.001", "--file", path).stdout == "correct: t.cli\n"
    assert _cli("check", "t.cli", "0.1", "--file", path).returncode == 1
    r = _cli("add", "t.set", "{'A', 'B'}", "--file", path)
    assert quiz.check("t.set", {"b", "a"}, path=path)
    r = _cli("list", "--file", path)
    assert "t.cli" in r.stdout and "small" in r.stdout and "0.001" not in r.stdout
    r = _cli("check", "t.missing", "1", "--file", path)
    assert r.returncode == 1 and r.stderr.startswith("error: unknown quiz question id")
    assert "Traceback" not in r.stderr


def test_bundled_hash_file_is_valid():
    data = json.loads(quiz.HASHES.read_text())
    for qid, entry in data.items():
        assert "." in qid, f"{qid}: ids look like 'l02.name' or 'ps2.q1'"
        if entry.get("graded"):
            assert set(entry) == {"graded", "form"}, f"{qid}: a graded question holds its form, no key"
            continue
        assert len(entry["salt"]) == 32 and entry["hashes"], qid
        assert all(len(h) == 64 for h in entry["hashes"]), qid
    assert quiz.HASHES.read_text() == json.dumps(data, indent=2, sort_keys=True,
                                                 ensure_ascii=False) + "\n"


def _notebook_quiz_ids(folder: str) -> set[str]:
    import re

    ids = set()
    for path in sorted((ROOT / folder).glob("**/*.ipynb")):
        ids |= set(re.findall(r'check\((?:\\)?"((?:l|ps)\d+\.\w+)(?:\\)?"', path.read_text(encoding="utf-8")))
    return ids


def test_graded_questions_ship_no_key_and_lessons_keep_theirs():
    """Every exercise's quiz id is graded (form only, no salt, no hash); every lesson id has a key."""
    data = json.loads(quiz.HASHES.read_text())
    graded = _notebook_quiz_ids("solutions")
    lessons = _notebook_quiz_ids("lessons")
    assert graded and lessons and not graded & lessons
    for qid in graded:
        assert data[qid].get("graded") and "hashes" not in data[qid] and "salt" not in data[qid], qid
    for qid in lessons:
        assert not data[qid].get("graded") and data[qid]["hashes"], qid
    assert {q for q, e in data.items() if e.get("graded")} == graded


def _exercise_answers() -> list[tuple[str, object]]:
    """(question id, the solution's answer) for each quiz cell of solutions/*/*.ipynb."""
    import ast
    import re

    import nbformat

    out = []
    for path in sorted((ROOT / "solutions").glob("*/*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            found = re.search(r'### BEGIN SOLUTION\n\w+ = (.+)\n### END SOLUTION\ncheck\("([^"]+)"', cell.source)
            if found:
                out.append((found[2], ast.literal_eval(found[1])))
    return out


def _wrong_of_the_same_form(answer):
    if type(answer) is bool:
        return not answer
    if type(answer) in (int, float):
        return answer * 3 + 1
    return "A" if quiz.normalise(answer) != "a" else "B"


@pytest.mark.parametrize("qid,answer", _exercise_answers(), ids=lambda v: str(v))
def test_exercise_check_tells_the_form_never_right_from_wrong(qid, answer, capsys):
    """Before hand-in, check says the same for the solution's answer and a wrong one of its form."""
    assert quiz.check(qid, answer).correct is None, f"{qid}: the solution's answer is not of the form registered"
    right = capsys.readouterr().out
    assert right == f"{qid}: graded after hand-in; your answer has the right form\n"
    wrong = _wrong_of_the_same_form(answer)
    if quiz.check(qid, wrong).correct is None:      # a letter question's other letter, the other bool, ...
        assert capsys.readouterr().out == right
    assert quiz.check(qid, None).correct is False
    assert "write your answer" in capsys.readouterr().out


def test_graded_question_checks_its_form(tmp_path, capsys):
    path = tmp_path / "h.json"
    quiz.graded("t.letter", ["A", "B", "C", "D"], path=path)
    quiz.graded("t.num", "number", path=path)
    quiz.graded("t.bool", "bool", path=path)
    assert quiz.check("t.letter", " c ", path=path).correct is None
    assert quiz.check("t.letter", "E", path=path).correct is False
    assert "one of 'A', 'B', 'C', 'D'" in capsys.readouterr().out
    assert quiz.check("t.num", 0.5, path=path).correct is None and quiz.check("t.num", 3, path=path).correct is None
    assert quiz.check("t.num", "0.5", path=path).correct is False and quiz.check("t.num", True, path=path).correct is False
    assert quiz.check("t.bool", False, path=path).correct is None and quiz.check("t.bool", 0, path=path).correct is False
    assert set(json.loads(path.read_text())["t.num"]) == {"graded", "form"}
    with pytest.raises(ValueError, match="graded question"):
        quiz.add("t.num", 0.5, path=path)
    with pytest.raises(ValueError, match="form"):
        quiz.graded("t.bad", "letter", path=path)
    quiz.add("t.self", 1, path=path)
    quiz.graded("t.self", "number", path=path)          # a self-check made graded loses its key
    assert set(json.loads(path.read_text())["t.self"]) == {"graded", "form"}


def test_command_line_graded(tmp_path):
    path = str(tmp_path / "h.json")
    r = _cli("graded", "t.g", "['body', 'head']", "--file", path)
    assert r.returncode == 0, r.stderr
    r = _cli("check", "t.g", "head", "--file", path)
    assert r.returncode == 0 and r.stdout == "t.g: graded after hand-in; your answer has the right form\n"
    assert _cli("check", "t.g", "tail", "--file", path).returncode == 1
    r = _cli("list", "--file", path)
    assert "t.g  (graded after hand-in; form: one of 'body', 'head')" in r.stdout
    r = _cli("add", "t.g", "head", "--file", path)
    assert r.returncode == 1 and r.stderr.startswith("error:") and "graded question" in r.stderr


def test_a_cell_ending_in_check_shows_the_line_once_and_no_stray_value(hashes, capsys):
    """The lessons' quiz cells end in ``check(...)``: a kernel shows its printed line, and the
    value of the cell (what ipykernel would send as the cell's result) has nothing to show."""
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.user_ns.update(quiz=quiz, hashes=hashes)
    for answer, line in [("None", "not yet: t.lr: write your answer into the variable first"),
                         ("0.1", "not yet: t.lr (hint: read the signature)"),
                         ("1e-3", "correct: t.lr")]:
        result = shell.run_cell(f"quiz.check('t.lr', {answer}, path=hashes)")
        assert result.success and capsys.readouterr().out.startswith(line + "\n")
        assert bool(result.result) is (answer == "1e-3")
        assert shell.display_formatter.format(result.result) == ({}, {}), "a stray value is shown"
    assert shell.display_formatter.format(False)[0] == {"text/plain": "False"}   # what it was
