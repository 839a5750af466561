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
        assert len(entry["salt"]) == 32 and entry["hashes"], qid
        assert all(len(h) == 64 for h in entry["hashes"]), qid
    assert quiz.HASHES.read_text() == json.dumps(data, indent=2, sort_keys=True,
                                                 ensure_ascii=False) + "\n"


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


@pytest.mark.parametrize("qid,answer", _exercise_answers(), ids=lambda v: str(v))
def test_exercise_keys_match_solutions_and_hints_do_not_tell(qid, answer):
    import re

    assert quiz.check(qid, answer), f"{qid}: the hash file does not accept the solution's answer"
    hint = json.loads(quiz.HASHES.read_text())[qid].get("hint", "")
    key = quiz.normalise(answer)
    words = {quiz.normalise(w) for w in re.findall(r"[\w.+-]+", hint)}
    numbers = {quiz.normalise(n) for n in re.findall(r"\d+(?:\.\d+)?(?:e-?\d+)?", hint)}
    assert key not in words | numbers, f"{qid}: the hint {hint!r} gives the answer away"
