"""Grading speed, measured side by side in one run.

1. **Per submission**: the same K ps1 submissions (copies of perfect / wrong / partial /
   untouched) graded by plain `nbgrader autograde` (one process, every student, nbgrader's own
   kernels, no sandbox) and by `python -m autograder grade -j 1` (sandbox, trusted verdicts).
   With `--before REV`, also by the autograder of an older commit (e.g. `e5ab5e1`, before the
   sandbox), from a git worktree of it, on the same kinds of submissions.
2. **Scaling**: 2K submissions with `-j 1` and `-j N` (N = the usable CPUs): the speed-up
   against N (target: at least 0.8 N on N free cores).
3. **A class** of `--class-size` submissions (default 100) end to end: collect, grade `-j N`,
   feedback, export (target: 5 minutes on 2 cores). Skipped by `--quick`.

Ends with `<metric>: <value>` lines. `--quick` takes a few minutes; the full run about ten.

    python benchmarks/bench_grading.py [--quick] [--before REV] [--class-size 100]
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from autograder.course import ensure_path  # noqa: E402

A = "ps1_param_groups"
KINDS = ["perfect", "wrong", "partial", "untouched"]


def downloads(folder: Path, n: int, samples: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    kinds = [k for k in KINDS if (samples / f"{k}.ipynb").exists()]
    for i in range(n):
        shutil.copy(samples / f"{kinds[i % len(kinds)]}.ipynb", folder / f"s{i:03d}.ipynb")
    return folder


def cli(repo: Path, *args, cwd: Path) -> float:
    """Seconds one `python -m autograder ...` of ``repo`` takes (it must succeed)."""
    env = dict(os.environ, PYTHONPATH=str(repo))
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "autograder", *map(str, args)], cwd=cwd, env=env,
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"autograder {args[0]} failed:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    return time.perf_counter() - t


def ours(repo: Path, subs: Path, folder: Path, jobs: int) -> float:
    """Seconds of `grade -j jobs`, a regrade after a first grade that synced the gradebook
    (plain nbgrader's timing leaves out its generate_assignment too)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    cli(repo, "collect", A, subs, "--instructor", folder, cwd=folder.parent)
    cli(repo, "grade", A, "--instructor", folder, "-j", jobs, "--quiet", cwd=folder.parent)
    return cli(repo, "grade", A, "--instructor", folder, "-j", jobs, "--quiet", cwd=folder.parent)


def plain_nbgrader(work: Path, subs: Path) -> float:
    """Plain nbgrader on the same submissions: its own config, gradebook and folders."""
    work.mkdir(parents=True)
    (work / "nbgrader_config.py").write_text(f"""
c = get_config()
c.CourseDirectory.root = {str(REPO)!r}
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = {str(work / 'release')!r}
c.CourseDirectory.submitted_directory = {str(work / 'submitted')!r}
c.CourseDirectory.autograded_directory = {str(work / 'autograded')!r}
c.CourseDirectory.feedback_directory = {str(work / 'feedback')!r}
c.CourseDirectory.db_url = "sqlite:///{work / 'gradebook.db'}"
""")
    for nb in sorted(subs.glob("*.ipynb")):
        dest = work / "submitted" / nb.stem / A
        dest.mkdir(parents=True)
        shutil.copy(nb, dest / f"{A}.ipynb")
    nbgrader = [sys.executable, "-m", "nbgrader"]
    subprocess.run([*nbgrader, "generate_assignment", A, "--force", "--create"], cwd=work,
                   capture_output=True, check=True)
    t = time.perf_counter()
    subprocess.run([*nbgrader, "autograde", A, "--force"], cwd=work, capture_output=True, check=True)
    return time.perf_counter() - t


def worktree(rev: str, where: Path) -> Path:
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(where), rev],
                   capture_output=True, check=True)
    return where


def timings(folder: Path) -> dict:
    import json
    parts: dict = {}
    for path in (folder / "flags" / A).glob("*.json"):
        for k, v in json.loads(path.read_text())["timings"].items():
            parts.setdefault(k, []).append(v)
    return {k: statistics.mean(v) for k, v in parts.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="no class run; 12 submissions side by side")
    ap.add_argument("--submissions", type=int, default=None, help="K for parts 1 and 2")
    ap.add_argument("--class-size", type=int, default=100)
    ap.add_argument("--before", default=None, metavar="REV", help="also time this commit's autograder")
    args = ap.parse_args()
    ensure_path()
    k = args.submissions or (12 if args.quick else 24)
    jobs = len(os.sched_getaffinity(0))
    load = os.getloadavg()[0]
    print(f"cpus: {os.cpu_count()} (usable {jobs}); load average {load:.1f}")
    samples = REPO / "autograder" / "samples" / A
    out: dict = {}
    with tempfile.TemporaryDirectory(prefix="lrlab-bench-") as tmp:
        tmp = Path(tmp)
        subs = downloads(tmp / "subs", k, samples)
        # 1. per submission, side by side
        t_plain = plain_nbgrader(tmp / "plain", subs)
        t_ours = ours(REPO, subs, tmp / "ours-j1" / "course", 1)
        where = timings(tmp / "ours-j1" / "course")
        out["plain_nbgrader_s_per_submission"] = t_plain / k
        out["autograder_s_per_submission"] = t_ours / k
        out["speedup_vs_plain_nbgrader"] = t_plain / t_ours
        print(f"{k} submissions: plain nbgrader autograde {t_plain:.1f} s, autograder -j1 "
              f"{t_ours:.1f} s (sandbox, trusted verdicts)")
        print("per submission, autograder: " + ", ".join(f"{n} {v:.2f} s" for n, v in sorted(where.items())))
        if args.before:
            old = worktree(args.before, tmp / "before-repo")
            try:
                old_subs = downloads(tmp / "subs-before", k, old / "autograder" / "samples" / A)
                t_before = ours(old, old_subs, tmp / "before" / "course", 1)
            finally:
                subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(old)],
                               capture_output=True)
            out[f"before_{args.before}_s_per_submission"] = t_before / k
            out["now_vs_before_time_ratio"] = t_ours / t_before
            print(f"autograder at {args.before} -j1: {t_before:.1f} s")
        # 2. scaling, on twice as many submissions (the workers' start-up is a fixed cost)
        many = downloads(tmp / "subs-many", 2 * k, samples)
        t_j1 = ours(REPO, many, tmp / "scale-j1" / "course", 1)
        t_jn = ours(REPO, many, tmp / f"scale-j{jobs}" / "course", jobs)
        out[f"j{jobs}_speedup"] = t_j1 / t_jn
        out[f"j{jobs}_speedup_per_job"] = t_j1 / t_jn / jobs
        print(f"{2 * k} submissions: -j1 {t_j1:.1f} s, -j{jobs} {t_jn:.1f} s")
        # 3. a class
        if not args.quick:
            n = args.class_size
            cls = tmp / "class" / "course"
            class_subs = downloads(tmp / "class-subs", n, samples)
            t0 = time.perf_counter()
            cli(REPO, "collect", A, class_subs, "--instructor", cls, cwd=tmp)
            t_grade = cli(REPO, "grade", A, "--instructor", cls, "-j", jobs, "--quiet", cwd=tmp)
            t_feedback = cli(REPO, "feedback", A, "--instructor", cls, cwd=tmp)
            cli(REPO, "export", "--instructor", cls, cwd=tmp)
            total = time.perf_counter() - t0
            out["class_size"] = n
            out[f"class_grade_j{jobs}_s"] = t_grade
            out["class_feedback_s"] = t_feedback
            out["class_end_to_end_s"] = total
            print(f"class of {n}: grade -j{jobs} {t_grade:.1f} s, feedback {t_feedback:.1f} s, "
                  f"end to end {total:.1f} s")
    out["load_average_at_start"] = load
    for key, value in out.items():
        print(f"{key}: {value:.2f}" if isinstance(value, float) else f"{key}: {value}")


if __name__ == "__main__":
    main()
