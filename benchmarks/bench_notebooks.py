"""Every lesson and solution notebook, executed top to bottom on the CPU, against the course's
target (DESIGN.md §5): each in <= 60 s on an idle 2-core machine.

The test suite only checks that each notebook runs (its limit, 450 s, stops a hang with headroom
for a busy machine); the target lives here. Prints one line per notebook,
`<notebook>: <seconds> s (target 60 s) PASS|MISS`; exits 0 unless a notebook fails.
Run: .venv/bin/python benchmarks/bench_notebooks.py [NOTEBOOK ...]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 60


def seconds_to_run(path: Path) -> float:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=3 * TARGET_S, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")    # as the test suite and the grader run them
    paths = args.notebooks or sorted([*ROOT.glob("lessons/*.ipynb"), *ROOT.glob("solutions/*/*.ipynb")])
    for path in paths:
        s = seconds_to_run(path)
        print(f"{path.relative_to(ROOT)}: {s:.1f} s (target {TARGET_S} s) {'PASS' if s <= TARGET_S else 'MISS'}",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
