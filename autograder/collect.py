"""``collect``: a folder or .zip of downloaded submissions -> nbgrader's submitted/ layout.

Accepted layouts (as LMS exports come):
  <student>.ipynb                       one notebook per student (the assignment's notebook)
  <student>/<assignment>/*.ipynb        nbgrader's own layout
  <student>/*.ipynb                     one folder per student
Files that are not notebooks, and symbolic links, are skipped and listed. A notebook that is
not valid JSON is still collected: grading flags it, so the student shows up in the export with
a reason. A zip is refused whole if a member would land outside the folder it is unpacked in, or
if it unpacks to more than ``MAX_UNPACKED_BYTES`` or ``MAX_MEMBERS`` files (a zip bomb).
"""
from __future__ import annotations

import re
import shutil
import tempfile
import zipfile
from datetime import datetime, timezone
from pathlib import Path

from .course import AutograderError, Course

_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,99}$")
MAX_UNPACKED_BYTES, MAX_MEMBERS = 4 << 30, 100_000


def _student_id(name: str) -> str:
    if not _ID.match(name) or name in (".", ".."):
        raise AutograderError(f"cannot use {name!r} as a student id (letters, digits, _ . @ - only, "
                              "at most 100)")
    return name


def _check_zip(z: zipfile.ZipFile, path: Path, into: Path) -> None:
    """Refuse a zip whose members would land outside ``into``, or that unpacks to too much."""
    root = into.resolve()
    members = z.infolist()
    if len(members) > MAX_MEMBERS or sum(m.file_size for m in members) > MAX_UNPACKED_BYTES:
        raise AutograderError(f"{path}: unpacks to more than {MAX_MEMBERS} files or "
                              f"{MAX_UNPACKED_BYTES >> 30} GiB; unpack it yourself and collect the folder")
    for m in members:
        if not (root / m.filename).resolve().is_relative_to(root):
            raise AutograderError(f"{path}: unsafe path in the zip: {m.filename}")


def _find(folder: Path, assignment: str, notebook_names: list[str],
          quiet: bool = False) -> dict[str, list[Path]]:
    found: dict[str, list[Path]] = {}
    skipped = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith((".", "__MACOSX")):
            continue
        if entry.is_symlink():
            skipped.append(entry.name + " (a link)")
        elif entry.is_file():
            if entry.suffix == ".ipynb":
                found.setdefault(_student_id(entry.stem), []).append(entry)
            else:
                skipped.append(entry.name)
        elif entry.is_dir():
            inner = entry / assignment if (entry / assignment).is_dir() else entry
            notebooks = sorted(p for p in inner.glob("*.ipynb") if not p.is_symlink())
            if notebooks:
                found.setdefault(_student_id(entry.name), []).extend(notebooks)
            else:
                skipped.append(entry.name + "/")
    if skipped and not quiet:
        print(f"skipped (not notebooks): {', '.join(skipped)}")
    return found


def collect(course: Course, assignment: str, path: Path, *, quiet: bool = False) -> list[str]:
    path = Path(path).expanduser()
    if not path.exists():
        raise AutograderError(f"{path} does not exist")
    names = course.notebooks(assignment)
    with tempfile.TemporaryDirectory() as tmp:
        if path.is_file():
            if not zipfile.is_zipfile(path):
                raise AutograderError(f"{path} is neither a folder nor a .zip of submissions")
            with zipfile.ZipFile(path) as z:
                _check_zip(z, path, Path(tmp))
                z.extractall(tmp)
            folder = Path(tmp)
            inner = [p for p in folder.iterdir() if not p.name.startswith((".", "__MACOSX"))]
            if len(inner) == 1 and inner[0].is_dir() and not any(inner[0].glob("*.ipynb")) \
                    and inner[0].name != assignment:
                folder = inner[0]  # a zip of one folder
        else:
            folder = path
        found = _find(folder, assignment, names, quiet)
        if not found:
            raise AutograderError(f"no submissions (.ipynb) in {path}")
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f UTC")
        for student, files in found.items():
            dest = course.step("submitted") / student / assignment
            if dest.exists():
                shutil.rmtree(dest)
            dest.mkdir(parents=True)
            for f in files:
                # a lone notebook is the assignment's notebook whatever the student named it
                name = f.name if f.stem in names or len(files) > 1 or len(names) != 1 \
                    else f"{names[0]}.ipynb"
                shutil.copyfile(f, dest / name)
            (dest / "timestamp.txt").write_text(stamp + "\n")
    return sorted(found)
