"""Self-check for the lessons' quiz questions, without nbgrader (Colab, self-study), and a form
check for the graded ones.

    >>> from lrlab import quiz
    >>> quiz.check("l02.default_lr", 0.001)      # prints one line, returns a Verdict
    correct: l02.default_lr
    >>> quiz.check("ps1.q1", "B")                # a graded question: its form only
    ps1.q1: graded after hand-in; your answer has the right form

The printed line is the answer a student reads. The returned ``Verdict`` is for code (truthy
only when right; ``.correct`` is True, False, or None for a well-formed graded answer) and
shows nothing when it is a cell's last expression, so a notebook prints the line once and no
stray ``False`` under it.

``lrlab/assets/quiz_hashes.json`` holds two kinds of question:

* **self-checks** (the lessons' ungraded questions): a random salt and
  ``sha256(salt + "\\n" + normalised answer)`` for each accepted answer, plus an optional hint
  and the number of significant digits numbers are compared to. The key is never stored in the
  clear, but a salted hash hides it from a casual reader only: a short multiple-choice or
  numeric answer can be found by trying every option, so a self-check is never graded;
* **graded questions** (the exercises' quiz, ``ps1.q1`` ...): ``{"graded": true, "form": ...}``
  and no key at all, so nothing a student can call tells a right answer from a wrong one before
  hand-in. ``check`` only says whether the answer has the right form: ``"number"`` (an int or a
  float), ``"bool"`` (True or False) or a list of the allowed words (``["A", "B", "C", "D"]``,
  case and spaces ignored), the same form the exercise's test cell asks for. Its key lives only
  in that test cell's hidden part, judged by the grader (see autograder/README.md).

Normalisation (the same for the key and for the student's answer):

* ``None`` or ``...`` (not answered yet) is never correct.
* bool -> ``true`` / ``false`` (so ``True`` and ``"true"`` match).
* numbers (int, float, numpy / torch scalars, and strings that parse as a finite number)
  -> the number formatted to the question's significant digits (default 4; ``-0`` is ``0``):
  ``0.001``, ``1e-3``, ``"1E-3"`` and ``0.0010000001`` all match; ``3`` and ``3.0`` match.
* strings -> stripped, inner whitespace collapsed to one space, case-folded: ``" b "`` matches
  ``"B"``.
* a list or tuple -> its elements normalised, order kept; a set -> its elements normalised
  and sorted (order does not matter): ``{"A", "c"}`` matches ``["C", "a"]`` only if the key
  was registered as a set too.

Register or update an answer (instructors and lesson authors)::

    python -m lrlab.quiz add l02.default_lr 0.001 --hint "look at the constructor's signature"
    python -m lrlab.quiz add l02.default_lr 1e-3 --also        # another accepted answer
    python -m lrlab.quiz add l03.three_ways "{'A', 'C'}"       # a set, written as Python
    python -m lrlab.quiz graded ps2.q1 number                  # graded: its form, no key
    python -m lrlab.quiz graded ps1.q1 "['A', 'B', 'C', 'D']"
    python -m lrlab.quiz list                                   # ids, hints, forms, no keys

``ANSWER`` is parsed as a Python literal when it is one (``0.001``, ``True``, ``['A', 'B']``),
otherwise taken as a string. The file is rewritten with sorted keys and two-space indent,
under a file lock, so concurrent ``add`` calls do not lose each other's questions.

``add`` refuses a graded question's id: a graded key never goes into this file.
"""
from __future__ import annotations

import argparse
import ast
import contextlib
import hashlib
import json
import math
import secrets
import sys
from pathlib import Path

HASHES = Path(__file__).resolve().parent / "assets" / "quiz_hashes.json"
DEFAULT_DIGITS = 4

__all__ = ["check", "Verdict", "normalise", "add", "graded", "HASHES"]
FORMS = ("number", "bool")      # or a list of the allowed words
GRADED = "graded after hand-in"


class _Unanswered(Exception):
    pass


class Verdict:
    """``check``'s result: ``correct`` is True, False, or None (a graded answer of the right
    form). Truthy only when right; displays nothing in IPython (``check`` printed its line)."""
    __slots__ = ("correct",)

    def __init__(self, correct: bool | None):
        self.correct = correct

    def __bool__(self) -> bool:
        return self.correct is True

    def __repr__(self) -> str:
        return f"Verdict(correct={self.correct})"

    def _ipython_display_(self) -> None:
        """A cell ending in ``check(...)`` shows the printed line only."""


def _number(x) -> float | None:
    """x as a float when it is a number (or a string that spells a finite number)."""
    if isinstance(x, bool):
        return None
    if isinstance(x, str):
        try:
            value = float(x.strip().replace("_", ""))
        except ValueError:
            return None
        return value if math.isfinite(value) else None
    if isinstance(x, (int, float)):
        return float(x)
    item = getattr(x, "item", None)  # numpy / torch scalars
    if callable(item) and getattr(x, "ndim", 0) == 0:
        try:
            value = item()
        except (ValueError, RuntimeError, TypeError):
            return None
        return _number(value) if isinstance(value, (int, float)) else None
    return None


def normalise(answer, digits: int = DEFAULT_DIGITS) -> str:
    """The canonical text of an answer that gets hashed (see the module docstring)."""
    if answer is None or answer is Ellipsis:
        raise _Unanswered
    if isinstance(answer, bool):
        return "true" if answer else "false"
    value = _number(answer)
    if value is not None:
        if value == 0:
            return "0"
        return f"{value:.{digits}g}"  # 1e-3 and 0.001 are the same float: same text
    if isinstance(answer, str):
        return " ".join(answer.split()).casefold()
    if isinstance(answer, (set, frozenset)):
        return "{" + ",".join(sorted(normalise(a, digits) for a in answer)) + "}"
    if isinstance(answer, (list, tuple)):
        return "[" + ",".join(normalise(a, digits) for a in answer) + "]"
    return " ".join(str(answer).split()).casefold()


def _digest(salt: str, text: str) -> str:
    return hashlib.sha256(f"{salt}\n{text}".encode()).hexdigest()


def _load(path: Path) -> dict:
    if not path.exists():
        return {}
    text = path.read_text(encoding="utf-8")
    return json.loads(text) if text.strip() else {}


def _dump(data: dict) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _form_text(form) -> str:
    if form == "number":
        return "a number (an int or a float)"
    if form == "bool":
        return "True or False"
    return "one of " + ", ".join(repr(w) for w in form)


def _has_form(answer, form) -> bool:
    if form == "number":
        return type(answer) in (int, float)
    if form == "bool":
        return type(answer) is bool
    return type(answer) is str and " ".join(answer.split()).casefold() in {w.casefold() for w in form}


def _check_form(question_id: str, entry: dict, answer) -> Verdict:
    """A graded question: say whether the answer has the right form, never whether it is right."""
    if answer is None or answer is Ellipsis:
        print(f"not yet: {question_id}: write your answer into the variable first")
        return Verdict(False)
    form = entry.get("form")
    if form is not None and not _has_form(answer, form):
        print(f"not yet: {question_id}: the answer must be {_form_text(form)} "
              f"(it is graded after hand-in)")
        return Verdict(False)
    print(f"{question_id}: {GRADED}; your answer has the right form")
    return Verdict(None)


def check(question_id: str, answer, *, path: Path | str | None = None) -> Verdict:
    """Print one line and return a ``Verdict``: whether ``answer`` is right (a self-check:
    ``correct`` True / False).

    For a graded question (no key here) it checks the form only: it prints "graded after
    hand-in; your answer has the right form" and ``correct`` is None for every well-formed
    answer, right or wrong; False (with the form asked for) for one of the wrong form or none yet.
    Raises ValueError for a question id that is not registered.
    """
    data = _load(Path(path) if path else HASHES)
    if question_id not in data:
        prefix = str(question_id).split(".")[0] + "."
        near = sorted(q for q in data if q.startswith(prefix))
        known = f" (known ids starting with {prefix!r}: {', '.join(near)})" if near else ""
        raise ValueError(f"unknown quiz question id {question_id!r}{known}")
    entry = data[question_id]
    if entry.get("graded") or "hashes" not in entry:
        return _check_form(question_id, entry, answer)
    try:
        text = normalise(answer, entry.get("digits", DEFAULT_DIGITS))
    except _Unanswered:
        print(f"not yet: {question_id}: write your answer into the variable first")
        return Verdict(False)
    ok = _digest(entry["salt"], text) in entry["hashes"]
    if ok:
        print(f"correct: {question_id}")
    else:
        hint = entry.get("hint")
        print(f"not yet: {question_id}" + (f" (hint: {hint})" if hint else ""))
    return Verdict(ok)


@contextlib.contextmanager
def _editing(path: Path):
    """The file's questions as a dict, under a file lock; written back when the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+", encoding="utf-8") as f:
        try:
            import fcntl
            fcntl.flock(f, fcntl.LOCK_EX)
        except ImportError:  # Windows: no lock, last writer wins
            pass
        f.seek(0)
        text = f.read()
        data = json.loads(text) if text.strip() else {}
        yield data
        f.seek(0)
        f.truncate()
        f.write(_dump(data))
        f.flush()


def add(question_id: str, answer, *, hint: str | None = None, also: bool = False,
        digits: int | None = None, path: Path | str | None = None) -> None:
    """Register (or replace; with ``also=True`` add another accepted) answer for a question."""
    if not isinstance(question_id, str) or not question_id.strip() or " " in question_id:
        raise ValueError(f"a question id is a word like 'l02.default_lr', not {question_id!r}")
    path = Path(path) if path else HASHES
    with _editing(path) as data:
        old = data.get(question_id)
        if old is not None and old.get("graded"):
            raise ValueError(f"{question_id!r} is a graded question: its key belongs in the exercise's "
                             "hidden test, never in this file (python -m lrlab.quiz graded to change its form)")
        if also and old is None:
            raise ValueError(f"--also needs an existing question; {question_id!r} is new")
        if also:
            entry = old
            if digits is not None and digits != entry.get("digits", DEFAULT_DIGITS):
                raise ValueError("--also cannot change --digits: re-add the question instead")
        else:
            entry = {"salt": secrets.token_hex(16), "hashes": []}
            if digits is not None and digits != DEFAULT_DIGITS:
                entry["digits"] = digits
            if old and old.get("hint") and hint is None:
                entry["hint"] = old["hint"]
        try:
            norm = normalise(answer, entry.get("digits", DEFAULT_DIGITS))
        except _Unanswered:
            raise ValueError("an answer cannot be None or ...") from None
        digest = _digest(entry["salt"], norm)
        if digest not in entry["hashes"]:
            entry["hashes"] = sorted([*entry["hashes"], digest])
        if hint is not None:
            if hint:
                entry["hint"] = hint
            else:
                entry.pop("hint", None)
        data[question_id] = entry


def graded(question_id: str, form, *, path: Path | str | None = None) -> None:
    """Register a graded question: its form (``"number"``, ``"bool"`` or a list of words), no key.

    Replaces whatever the file held for that id, a self-check key included."""
    if not isinstance(question_id, str) or not question_id.strip() or " " in question_id:
        raise ValueError(f"a question id is a word like 'ps2.q1', not {question_id!r}")
    if isinstance(form, (tuple, list)) and form and all(isinstance(w, str) and w.strip() for w in form):
        form = [str(w) for w in form]
    elif form not in FORMS:
        raise ValueError(f"a form is 'number', 'bool' or a list of the allowed words, not {form!r}")
    path = Path(path) if path else HASHES
    with _editing(path) as data:
        data[question_id] = {"graded": True, "form": form}


def _parse_answer(text: str):
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return text
    return value if isinstance(value, (int, float, bool, str, list, tuple, set, frozenset)) \
        else text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lrlab.quiz",
                                     description="Register self-check answers as salted hashes.")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--file", type=Path, default=None,
                        help=f"hash file (default: {HASHES})")
    sub = parser.add_subparsers(dest="command", required=True)
    a = sub.add_parser("add", parents=[common], help="register or update a question's answer")
    a.add_argument("question_id")
    a.add_argument("answer", help="a Python literal (0.001, True, ['A', 'B']) or plain text")
    a.add_argument("--hint", default=None, help="shown when the answer is not yet right "
                   "('' removes it)")
    a.add_argument("--also", action="store_true", help="accept this answer too (keep the others)")
    a.add_argument("--digits", type=int, default=None,
                   help=f"significant digits numbers are compared to (default {DEFAULT_DIGITS})")
    g = sub.add_parser("graded", parents=[common],
                       help="register a graded question: its form only, no key")
    g.add_argument("question_id")
    g.add_argument("form", help="number, bool or a Python list of the allowed words (\"['A', 'B']\")")
    c = sub.add_parser("check", parents=[common], help="check an answer (prints correct / not yet; "
                       "for a graded question its form only)")
    c.add_argument("question_id")
    c.add_argument("answer")
    sub.add_parser("list", parents=[common], help="list question ids and hints (never the keys)")
    args = parser.parse_args(argv)
    try:
        if args.command == "add":
            add(args.question_id, _parse_answer(args.answer), hint=args.hint, also=args.also,
                digits=args.digits, path=args.file)
            print(f"registered {args.question_id} in {args.file or HASHES}")
        elif args.command == "graded":
            graded(args.question_id, _parse_answer(args.form), path=args.file)
            print(f"registered {args.question_id} as graded (form only) in {args.file or HASHES}")
        elif args.command == "check":
            return 1 if check(args.question_id, _parse_answer(args.answer), path=args.file).correct is False else 0
        else:
            for qid, entry in sorted(_load(args.file or HASHES).items()):
                if entry.get("graded") or "hashes" not in entry:
                    form = f"; form: {_form_text(entry['form'])}" if entry.get("form") else ""
                    print(f"{qid}  ({GRADED}{form})")
                    continue
                n = len(entry["hashes"])
                print(f"{qid}  ({n} answer{'s' if n != 1 else ''})"
                      + (f"  hint: {entry['hint']}" if entry.get("hint") else ""))
    except (ValueError, json.JSONDecodeError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
