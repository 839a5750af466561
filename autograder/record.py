"""What grading produced: one ``Result`` per student, and the ledger that makes it tamper-evident.

``Result`` is saved as ``<instructor>/flags/<assignment>/<student>.json`` (the current state,
read by feedback and export); ``<student>.feedback.txt`` beside it says why no feedback page
could be made, when none could. The **ledger** ``<instructor>/ledger/<assignment>.jsonl`` gets
one line per grading, written by the batch from what its worker reported, each line holding
the SHA-256 of the line before (a hash chain): ``export`` compares the gradebook and the result
files with the ledger's last line for each student, and flags any difference, so a score that
grading did not produce is never published silently.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

GRADED, NOT_GRADED = "graded", "not graded"
NEEDS_MANUAL = "needs manual grading"
NO_SANDBOX = "graded without a sandbox"


@dataclass
class Result:
    student: str
    assignment: str
    status: str = NOT_GRADED
    score: float = 0.0
    max_score: float = 0.0
    flags: list[str] = field(default_factory=list)
    cells: dict = field(default_factory=dict)     # grade id -> auto score given by grading
    seconds: float = 0.0
    timings: dict = field(default_factory=dict)   # where the seconds went (see bench_grading)
    sandboxed: bool = True

    def save(self, folder: Path) -> None:
        path = result_path(folder, self.assignment, self.student)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=1) + "\n")
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> "Result":
        return cls(**json.loads(path.read_text()))

    def fingerprint(self) -> dict:
        """What the ledger keeps of a result (timings aside)."""
        return {k: v for k, v in asdict(self).items() if k not in ("seconds", "timings")}


def result_path(folder: Path, assignment: str, student: str) -> Path:
    return folder / "flags" / assignment / f"{student}.json"


def feedback_problem_path(folder: Path, assignment: str, student: str) -> Path:
    """Why no feedback page could be made for the student (by feedback; a flag in export)."""
    return folder / "flags" / assignment / f"{student}.feedback.txt"


def ledger_path(folder: Path, assignment: str) -> Path:
    return folder / "ledger" / f"{assignment}.jsonl"


def _digest(line: str) -> str:
    return hashlib.sha256(line.encode("utf-8")).hexdigest()


def append(folder: Path, result: Result) -> None:
    """Add ``result`` to its assignment's ledger, chained to the line before."""
    path = ledger_path(folder, result.assignment)
    path.parent.mkdir(parents=True, exist_ok=True)
    previous = ""
    if path.exists():
        lines = path.read_text(encoding="utf-8").splitlines()
        previous = _digest(lines[-1]) if lines else ""
    line = json.dumps({"prev": previous, "result": result.fingerprint()}, sort_keys=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())


def read(folder: Path, assignment: str) -> tuple[dict[str, dict], list[str]]:
    """({student: last recorded result}, problems with the chain itself)."""
    path = ledger_path(folder, assignment)
    latest, problems, previous = {}, [], ""
    if not path.exists():
        return latest, problems
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            entry = json.loads(line)
            result = entry["result"]
            chained = entry["prev"] == previous
        except (ValueError, KeyError, TypeError):
            problems.append(f"ledger line {n} is not a grading record")
            previous = _digest(line)
            continue
        if not chained:
            problems.append(f"ledger line {n} does not follow the line before (edited?)")
        latest[result["student"]] = result
        previous = _digest(line)
    return latest, problems
