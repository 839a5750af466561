"""``python -m classroom``: prepare the accounts and folders, then run the hub (``make classroom``).

As root, each roster name becomes a Unix account (created if missing, home mode 700, with a
password printed once and kept in ``<state>/passwords.txt``, mode 600); the course is installed
for every account (``classroom/userenv.py``); the exchange is a sticky world-writable folder, as
nbgrader needs; each instructor gets a private ``~/grading`` folder and a copy of the course
repository (``~/<course>``, a git clone: solutions/ stay theirs). Not as root, everyone is you:
one shared password, homes under ``<state>/homes``, the repository's venv (a look, not a class).
"""
from __future__ import annotations

import argparse
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

from . import userenv
from .settings import HERE, REPO, USERS_ENV, ClassroomError, Settings


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m classroom", description=__doc__.splitlines()[0])
    p.add_argument("--roster", type=Path, default=HERE / "roster.toml",
                   help="course, instructors and students (default: classroom/roster.toml)")
    p.add_argument("--port", type=int, default=8000,
                   help="the hub's port on 127.0.0.1; the next two serve its APIs (default 8000)")
    p.add_argument("--state", type=Path, default=HERE / ".state",
                   help="the hub's database, secrets and logs (default: classroom/.state)")
    p.add_argument("--exchange", type=Path, default=None,
                   help="nbgrader's exchange (default: /srv/nbgrader/exchange as root, "
                        "else <state>/exchange)")
    p.add_argument("--env", type=Path, default=None,
                   help="as root, the course installed for every account "
                        "(default: /opt/lrlab-classroom)")
    p.add_argument("--python", type=Path, default=userenv.SYSTEM_PYTHON,
                   help="the Python that env is built from (default: /usr/bin/python3)")
    p.add_argument("--env-only", action="store_true",
                   help="only build or update the course environment for every account (as root)")
    p.add_argument("--prepare-only", action="store_true",
                   help="create the accounts and folders, do not start the hub")
    return p


def _new_password() -> str:
    return secrets.token_urlsafe(12)


def _ensure_account(user: str) -> str | None:
    """Create the Unix account if missing; return its new password (None if it existed)."""
    if subprocess.run(["id", "-u", user], capture_output=True).returncode == 0:
        return None
    subprocess.run(["useradd", "--create-home", "-K", "HOME_MODE=0700", "--user-group",
                    "--shell", "/bin/bash", user],
                   check=True)
    password = _new_password()
    subprocess.run(["chpasswd"], input=f"{user}:{password}\n", text=True, check=True)
    return password


def _private_file(path: Path, text: str) -> None:
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    with path.open("a") as f:
        f.write(text)


def _course_copy(s: Settings, user: str) -> None:
    repo = s.course_repo(user)
    if not repo.exists():
        subprocess.run(["git", "clone", "--quiet", str(REPO), str(repo)], check=True)
        subprocess.run(["chown", "-R", f"{user}:{user}", str(repo)], check=True)


def prepare(s: Settings, python: Path = userenv.SYSTEM_PYTHON) -> list[str]:
    """Accounts, course env, exchange, instructor folders; returns lines to print."""
    if not s.proxy.exists():
        raise ClassroomError(f"{s.proxy} is missing: run `npm ci --prefix classroom` "
                             "(make classroom does)")
    s.state.mkdir(parents=True, exist_ok=True)
    s.state.chmod(0o700)
    news = []
    if s.real_users:
        if not shutil.which("useradd"):
            raise ClassroomError("useradd not found: real accounts need the passwd package")
        created = [f"{user}  {password}" for user in s.users
                   if (password := _ensure_account(user))]
        if created:
            _private_file(s.state / "passwords.txt", "".join(line + "\n" for line in created))
        news += [f"new password: {line}" for line in created]
        news.append(userenv.ensure(s.env, python))
    else:
        password_file = s.state / "password.txt"
        if not password_file.exists():
            _private_file(password_file, _new_password() + "\n")
            news.append(f"new password (every user): {password_file.read_text().strip()}")
    # nbgrader's exchange: world-writable so students can submit, sticky so that nobody can
    # delete or rename what someone else put there (nbgrader checks only the 0o777 part)
    s.exchange.mkdir(parents=True, exist_ok=True)
    s.exchange.chmod(0o1777)
    for user in s.instructors:
        folder = s.instructor_folder(user)
        folder.mkdir(parents=True, exist_ok=True)
        if s.real_users:
            shutil.chown(folder, user, user)
            _course_copy(s, user)
        folder.chmod(0o700)
    return news


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.env_only:
        try:
            print(userenv.ensure(args.env or USERS_ENV, args.python))
        except ClassroomError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        return 0
    try:
        s = Settings.read(args.roster, port=args.port, state=args.state, exchange=args.exchange,
                          env=args.env)
        news = prepare(s, args.python)
    except ClassroomError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    mode = "real Unix accounts" if s.real_users else "one account (not root): everyone is you"
    print(f"classroom {s.course}: {', '.join(s.instructors)} (instructor), "
          f"{', '.join(s.students)} (students); {mode}; exchange {s.exchange}")
    for line in news:
        print(f"  {line}")
    if args.prepare_only:
        return 0
    print(f"open {s.url}/hub/login", flush=True)
    env = {**os.environ, **s.to_env(args.roster)}
    os.chdir(s.state)
    os.execve(sys.executable, [sys.executable, "-m", "jupyterhub", "-f",
                               str(HERE / "jupyterhub_config.py")], env)


if __name__ == "__main__":
    sys.exit(main())
