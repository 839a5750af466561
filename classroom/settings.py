"""Where the classroom lives: the roster, ports, folders and each user's environment.

One ``Settings`` object, read from ``roster.toml`` and the ``LRLAB_CLASSROOM_*`` variables that
``python -m classroom`` sets, is shared by the launcher and ``jupyterhub_config.py``.
"""
from __future__ import annotations

import os
import pwd
import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
EXCHANGE = Path("/srv/nbgrader/exchange")      # nbgrader's usual place on a shared machine
USERS_ENV = Path("/opt/lrlab-classroom")       # the course installed for every account


class ClassroomError(Exception):
    """A setup mistake: printed as one line (what is wrong, what to do), exit status 2."""


@dataclass
class Settings:
    course: str
    instructors: list[str]
    students: list[str]
    port: int = 8000
    state: Path = HERE / ".state"
    exchange: Path | None = None
    env: Path | None = None

    def __post_init__(self):
        self.state = Path(self.state).resolve()
        if self.exchange is None:
            self.exchange = EXCHANGE if self.real_users else self.state / "exchange"
        self.exchange = Path(self.exchange).resolve()
        if self.env is None:
            self.env = USERS_ENV if self.real_users else Path(sys.prefix)
        self.env = Path(self.env).resolve()

    # --- reading ---------------------------------------------------------------------
    @classmethod
    def read(cls, roster: Path, **kw) -> Settings:
        roster = Path(roster)
        try:
            data = tomllib.loads(roster.read_text())
        except FileNotFoundError:
            raise ClassroomError(f"no roster at {roster}: copy classroom/roster.toml and edit it") from None
        except tomllib.TOMLDecodeError as e:
            raise ClassroomError(f"{roster} is not valid TOML: {e}") from None
        missing = {"course", "instructors", "students"} - set(data)
        if missing:
            raise ClassroomError(f"{roster} lacks {', '.join(sorted(missing))} "
                                 "(see classroom/roster.toml for the format)")
        settings = cls(course=data["course"], instructors=list(data["instructors"]),
                       students=list(data["students"]), **kw)
        settings.check(roster)
        return settings

    @classmethod
    def from_env(cls) -> Settings:
        """The settings ``python -m classroom`` passed on in the environment (or the defaults)."""
        env = os.environ.get
        return cls.read(Path(env("LRLAB_CLASSROOM_ROSTER", HERE / "roster.toml")),
                        port=int(env("LRLAB_CLASSROOM_PORT", "8000")),
                        state=Path(env("LRLAB_CLASSROOM_STATE", HERE / ".state")),
                        exchange=env("LRLAB_CLASSROOM_EXCHANGE") or None,
                        env=env("LRLAB_CLASSROOM_ENV") or None)

    def to_env(self, roster: Path) -> dict[str, str]:
        return {"LRLAB_CLASSROOM_ROSTER": str(Path(roster).resolve()),
                "LRLAB_CLASSROOM_PORT": str(self.port), "LRLAB_CLASSROOM_STATE": str(self.state),
                "LRLAB_CLASSROOM_EXCHANGE": str(self.exchange), "LRLAB_CLASSROOM_ENV": str(self.env)}

    def check(self, roster: Path) -> None:
        if not isinstance(self.course, str) or not NAME.match(self.course):
            raise ClassroomError(f"{roster}: course {self.course!r} must be lower-case letters, "
                                 "digits and '-', starting with a letter")
        if not self.instructors:
            raise ClassroomError(f"{roster}: name at least one instructor")
        for name in self.users:
            if not isinstance(name, str) or not NAME.match(name):
                raise ClassroomError(f"{roster}: user name {name!r} must be lower-case letters, "
                                     "digits and '-', starting with a letter, at most 31 characters")
        if len(set(self.users)) != len(self.users):
            raise ClassroomError(f"{roster}: a name appears twice (a user is an instructor "
                                 "or a student, once)")
        if not 1024 <= self.port <= 65533:
            raise ClassroomError(f"port {self.port}: use 1024-65533 (the hub API and the proxy "
                                 "API take the next two ports)")

    # --- derived ---------------------------------------------------------------------
    @property
    def users(self) -> list[str]:
        return self.instructors + self.students

    @property
    def real_users(self) -> bool:
        """As root: each user is a Unix account and their server runs as that account."""
        return os.geteuid() == 0

    @property
    def url(self) -> str:
        return f"http://localhost:{self.port}"

    @property
    def proxy(self) -> Path:
        return HERE / "node_modules" / ".bin" / "configurable-http-proxy"

    @property
    def config_dir(self) -> Path:
        """Each role's Jupyter configuration, where every account can read it."""
        return self.env / "etc" / "classroom" if self.real_users else HERE / "config"

    def role(self, user: str) -> str:
        return "instructor" if user in self.instructors else "student"

    def home(self, user: str) -> Path:
        if not self.real_users:
            return self.state / "homes" / user
        try:
            return Path(pwd.getpwnam(user).pw_dir)
        except KeyError:
            return Path("/home") / user             # where useradd will put it

    def course_repo(self, user: str) -> Path:
        """An instructor's own copy of the course repository (solutions/ stay private to it)."""
        return self.home(user) / self.course if self.real_users else REPO

    def instructor_folder(self, user: str) -> Path:
        """The autograder's instructor folder (gradebook, submissions, feedback) = nbgrader's
        course root for the formgrader; inside the home, as the formgrader requires."""
        return self.home(user) / "grading"

    def environment(self, user: str) -> dict[str, str]:
        """What a user's server gets: the role's Jupyter config, the exchange, the course env."""
        role = self.role(user)
        env = {"JUPYTER_CONFIG_PATH": os.pathsep.join(
                   [str(self.config_dir / role), str(self.config_dir / "everyone")]),
               "LRLAB_COURSE": self.course, "LRLAB_EXCHANGE": str(self.exchange),
               "PATH": os.pathsep.join([str(self.env / "bin"), "/usr/local/bin", "/usr/bin", "/bin"]),
               "OMP_NUM_THREADS": "1"}      # the course's models are tiny; cores are shared
        if role == "instructor":
            repo = self.course_repo(user)
            env.update(LRLAB_INSTRUCTOR=str(self.instructor_folder(user)),
                       LRLAB_COURSE_REPO=str(repo), PYTHONPATH=str(repo))  # python -m autograder
        return env
