"""Where things live and how nbgrader is configured: one ``Course`` object.

The course root is the repository (``solutions/`` is nbgrader's source directory, ``exercises/``
its release directory). Everything an instructor grades lives in the *instructor folder*
(default ``<repo>/instructor``, ignored by git; ``--instructor DIR`` or ``$LRLAB_INSTRUCTOR``
move it): ``gradebook.db``, ``submitted/``, ``autograded/``, ``feedback/``, ``flags/`` and
``.release/`` (a scratch release used to keep the gradebook in step with ``solutions/``).
All paths are absolute, so the command line works from any folder.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .sandbox import Limits

REPO = Path(__file__).resolve().parents[1]


class AutograderError(Exception):
    """An instructor's mistake: printed as one line, exit status 2, no traceback."""


@dataclass
class Course:
    root: Path = REPO
    instructor: Path = field(default_factory=lambda: Path(
        os.environ.get("LRLAB_INSTRUCTOR", REPO / "instructor")))
    timeout: int = 30               # seconds per cell, then the cell is interrupted
    limits: Limits = field(default_factory=Limits)   # memory, processes, scratch, ... per student
    max_output_bytes: int = 200_000  # per cell (every message whole); more is cut and flagged
    max_output_total: int = 10_000_000  # per notebook, every cell's output together
    course_id: str = "lrlab"

    def __post_init__(self):
        self.root = Path(self.root).resolve()
        self.instructor = Path(self.instructor).expanduser().resolve()

    # --- folders ---------------------------------------------------------------------
    @property
    def source(self) -> Path:
        return self.root / "solutions"

    @property
    def release(self) -> Path:
        return self.root / "exercises"

    def step(self, name: str) -> Path:
        """submitted / autograded / feedback / flags / .release inside the instructor folder."""
        return self.instructor / name

    @property
    def gradebook(self) -> Path:
        return self.instructor / "gradebook.db"

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.gradebook}"

    # --- assignments -----------------------------------------------------------------
    def assignments(self) -> list[str]:
        if not self.source.is_dir():
            return []
        return sorted(p.name for p in self.source.iterdir()
                      if p.is_dir() and any(p.glob("*.ipynb")) and not p.name.startswith("."))

    def check_assignment(self, name: str) -> str:
        known = self.assignments()
        if name not in known:
            hint = f"; known: {', '.join(known)}" if known else f"; {self.source} has none"
            raise AutograderError(f"unknown assignment {name!r}{hint}")
        return name

    def notebooks(self, assignment: str) -> list[str]:
        """Notebook names (without .ipynb) of an assignment's source."""
        return sorted(p.stem for p in (self.source / assignment).glob("*.ipynb"))

    def source_notebooks(self, assignment: str) -> dict:
        """The assignment's source notebooks (solutions and hidden tests), by name."""
        import nbformat
        return {n: nbformat.read(self.source / assignment / f"{n}.ipynb", as_version=4)
                for n in self.notebooks(assignment)}

    def time_budget(self, sources: dict) -> float:
        """Seconds one student's notebooks may take to run: ``timeout`` + 5 per cell, + 60."""
        return 60 + sum(len(nb.cells) for nb in sources.values()) * (self.timeout + 5)

    def students(self, assignment: str) -> list[str]:
        sub = self.step("submitted")
        if not sub.is_dir():
            return []
        return sorted(p.name for p in sub.iterdir() if (p / assignment).is_dir())

    # --- nbgrader --------------------------------------------------------------------
    def config(self, *, release_to: Path | None = None):
        """The nbgrader configuration (a traitlets Config) for this course."""
        from traitlets.config import Config

        from . import preprocessors as pp

        c = Config()
        c.CourseDirectory.root = str(self.root)
        c.CourseDirectory.course_id = self.course_id
        c.CourseDirectory.source_directory = "solutions"
        c.CourseDirectory.release_directory = str(release_to or self.release)
        for name in ("submitted", "autograded", "feedback"):
            setattr(c.CourseDirectory, f"{name}_directory", str(self.step(name)))
        c.CourseDirectory.db_url = self.db_url
        c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback"]
        # generate_assignment: keep the release free of outputs, ids stable
        c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
        c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
        c.ClearHiddenTests.enforce_metadata = True
        # autograde (autograder.worker runs nbgrader's preprocessors itself): restore edited and
        # deleted test cells; bounded output
        c.OverwriteCells.add_missing_cells = True
        c.LimitOutput.max_lines = 1000
        # feedback: hidden tests redacted, no script or event handler from a student's notebook
        pp.configure_feedback(c)
        return c

    def coursedir(self, *, release_to: Path | None = None):
        from nbgrader.coursedir import CourseDirectory
        return CourseDirectory(config=self.config(release_to=release_to))

    def api(self, *, release_to: Path | None = None):
        from nbgrader.apps.api import NbGraderAPI
        from nbgrader.coursedir import CourseDirectory

        config = self.config(release_to=release_to)
        return NbGraderAPI(CourseDirectory(config=config), config=config)


def ensure_path() -> None:
    """nbgrader runs ``alembic`` as a subprocess: put this interpreter's bin/ on PATH."""
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
