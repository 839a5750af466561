"""The course installed for every account: a venv every user can run (``/opt/lrlab-classroom``).

The repository's own ``.venv`` will not do for other accounts: its interpreter may live where
only its owner can reach (pyenv under ``/root``), and the course may be checked out anywhere.
So, as a university server would, the classroom installs the course (not editable) with
JupyterLab, nbgrader and jupyterhub-singleuser from a system Python, pinned by
constraints.txt, and the role configurations beside it. Rebuilt when the pins change;
reinstalled (the course only) when lrlab/ or autograder/ change.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tomllib
from pathlib import Path

from .settings import HERE, REPO, ClassroomError

SYSTEM_PYTHON = Path("/usr/bin/python3")
# Pins left to pip because the system Python cannot take them (Debian 12's python3 is 3.11.2):
UNPINNED = {"soupsieve"}        # soupsieve 3.0+ needs Python >= 3.11.5


def _digest(*paths: Path, extra: bytes = b"") -> str:
    h = hashlib.sha256(extra)
    for root in paths:
        for f in sorted(root.rglob("*") if root.is_dir() else [root]):
            if f.is_file() and "__pycache__" not in f.parts:
                h.update(str(f.relative_to(REPO)).encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:16]


def _pip(env: Path, *args: str) -> None:
    run = subprocess.run([str(env / "bin" / "python"), "-m", "pip", "install", "-q", *args],
                         capture_output=True, text=True)
    if run.returncode:
        raise ClassroomError(f"installing the course into {env} failed:\n{run.stderr[-3000:]}")


def ensure(env: Path, python: Path = SYSTEM_PYTHON) -> str:
    """Build or update the users' environment; returns what was done, in words."""
    stamp = env / "lrlab-classroom.json"
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    requirements = json.dumps([project["dependencies"], project["optional-dependencies"]]).encode()
    want = {"python": str(python), "pins": _digest(REPO / "constraints.txt", extra=requirements),
            "course": _digest(REPO / "lrlab", REPO / "autograder")}
    have = json.loads(stamp.read_text()) if stamp.exists() else {}
    if have.get("python") != want["python"] or have.get("pins") != want["pins"]:
        if not python.exists():
            raise ClassroomError(f"{python} not found: the users' environment needs a Python every "
                                 "account can run (apt-get install python3-venv, or --python)")
        shutil.rmtree(env, ignore_errors=True)
        subprocess.run([str(python), "-m", "venv", str(env)], check=True)
        pins = env / "constraints.txt"
        pins.write_text("".join(line + "\n" for line in (REPO / "constraints.txt").read_text().splitlines()
                                if line.split("==")[0].strip().lower() not in UNPINNED))
        _pip(env, "--upgrade", "pip")
        _pip(env, "-c", str(pins), f"{REPO}[course,classroom]")
        done = f"built {env} from {python}"
    elif have.get("course") != want["course"]:
        _pip(env, "--no-deps", "--force-reinstall", str(REPO))
        done = f"reinstalled the course in {env}"
    else:
        done = f"{env} is up to date"
    shutil.rmtree(env / "etc" / "classroom", ignore_errors=True)
    shutil.copytree(HERE / "config", env / "etc" / "classroom")
    lab_settings = env / "share" / "jupyter" / "lab" / "settings"   # JupyterLab's app settings
    lab_settings.mkdir(parents=True, exist_ok=True)
    shutil.copy(HERE / "config" / "everyone" / "lab" / "overrides.json", lab_settings)
    stamp.write_text(json.dumps(want))
    return done
