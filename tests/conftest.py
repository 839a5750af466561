"""Shared paths and notebook discovery for the test suite."""
from __future__ import annotations

import os
import tomllib
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # tests draw figures without a screen

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
