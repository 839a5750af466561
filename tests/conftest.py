"""Shared paths and notebook discovery for the test suite."""
from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import matplotlib
import pytest
import torch

matplotlib.use("Agg")  # tests draw figures without a screen
# The course's models are tiny: one CPU thread is fastest, and a second thread spins and slows
# everything 5-30x when the 2-core CI runner is busy. Kernels and graders started by the tests
# inherit the variable.
os.environ["OMP_NUM_THREADS"] = "1"
torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
os.environ["PATH"] = f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}"


def repository_url() -> str:
    """The one repository URL the Colab badges and install cells use, from pyproject.toml."""
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]["urls"]["Repository"]


def notebooks(*folders: str) -> list[Path]:
    """Every .ipynb under the given top-level folders, checkpoints excluded."""
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.ipynb")
                  if ".ipynb_checkpoints" not in p.parts)


@pytest.fixture(scope="session")
def graded(tmp_path_factory):
    """Every sample of every assignment graded once by the real command line
    (``python -m autograder demo --keep DIR``), from an unrelated folder: (folder, stdout)."""
    folder = tmp_path_factory.mktemp("instructor") / "course"
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    proc = subprocess.run(
        [sys.executable, "-m", "autograder", "demo", "--keep", str(folder), "--jobs", "2",
         "--timeout", "10", "--quiet", "--include-solution"],
        cwd=elsewhere, capture_output=True, text=True, timeout=1500,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, f"demo failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return folder, proc.stdout
