"""Grading speed: `python -m autograder grade` vs plain `nbgrader autograde`, and a class.

1. The same submissions (the ps1 samples, the bad ones included, except memory_hog, which
   plain nbgrader would let allocate 6 GB) graded in the same run by
   plain `nbgrader autograde` (one process, all students, its default 30 s cell timeout) and by
   our `grade --jobs 1` (a child process per student, checks, limits): seconds per submission,
   the ratio, and each sample's score under both (plain nbgrader's CSV-level view).
2. A class of N synthetic submissions (default 100; copies of the ps1 samples with varied
   answers) end to end: release-sync, collect, grade with --jobs 2, feedback, export; and the
   parallel gain: the first K students graded with --jobs 1 vs --jobs 2.
Ends with `<metric>: <value>` lines.

    python benchmarks/bench_grading.py [--class-size 100] [--parallel-sample 8]
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

from autograder.collect import collect  # noqa: E402
from autograder.course import Course, ensure_path  # noqa: E402
from autograder.export import export  # noqa: E402
from autograder.feedback import feedback  # noqa: E402
from autograder.grade import grade  # noqa: E402

A = "ps1_param_groups"
SAMPLES = REPO / "autograder" / "samples" / A
KINDS = ["perfect", "partial", "untouched"]
ATTACKER = "reads_grader_files"


def downloads(folder: Path, n: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        shutil.copy(SAMPLES / f"{KINDS[i % len(KINDS)]}.ipynb", folder / f"s{i:03d}.ipynb")
    return folder


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
    run = lambda *a: subprocess.run([*nbgrader, *a], cwd=work, capture_output=True, text=True,  # noqa: E731
                                    check=True)
    run("generate_assignment", A, "--force", "--create")
    # everyone but the attacker first (nbgrader grades in order), then the attacker alone:
    # its cell rewrites every grade in the gradebook it finds at ../../../gradebook.db
    t = time.perf_counter()
    subprocess.run([*nbgrader, "autograde", A, "--force",
                    f"--CourseDirectory.student_id_exclude={ATTACKER}"], cwd=work,
                   capture_output=True)
    before = plain_totals(work)
    subprocess.run([*nbgrader, "autograde", A, "--force", f"--student={ATTACKER}"], cwd=work,
                   capture_output=True)
    return time.perf_counter() - t, before


def plain_totals(work: Path) -> dict:
    """Each student's total in plain nbgrader's gradebook ('none': no submission recorded)."""
    from nbgrader.api import Gradebook
    out = {}
    with Gradebook(f"sqlite:///{work / 'gradebook.db'}") as gb:
        for sub in gb.assignment_submissions(A):
            out[sub.student.id] = f"{sub.score:g}"
    return out


def ours(course: Course, subs: Path, jobs: int) -> tuple[float, list]:
    collect(course, A, subs, quiet=True)
    t = time.perf_counter()
    results = grade(course, A, jobs=jobs, progress=False)
    return time.perf_counter() - t, results


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--class-size", type=int, default=100)
    ap.add_argument("--parallel-sample", type=int, default=6)
    args = ap.parse_args()
    ensure_path()
    print(f"cpus: {os.cpu_count()}  (affinity: {len(os.sched_getaffinity(0))})")
    with tempfile.TemporaryDirectory(prefix="lrlab-bench-") as tmp:
        tmp = Path(tmp)
        # 1. side by side
        subs = tmp / "side"
        # memory_hog is left out: without our kernel limit it really allocates 6 GB
        shutil.copytree(SAMPLES, subs, ignore=shutil.ignore_patterns("*.json", "memory_hog*"))
        t_plain, plain_scores = plain_nbgrader(tmp / "plain", subs)
        plain_after = plain_totals(tmp / "plain")
        course = Course(instructor=tmp / "ours1")
        from autograder.release import sync_gradebook
        t0 = time.perf_counter()
        sync_gradebook(course, A)
        t_sync = time.perf_counter() - t0
        t_ours, res = ours(course, subs, jobs=1)
        n = len(list(subs.glob("*.ipynb")))
        per_plain, per_ours = t_plain / n, (t_ours - 0) / n
        print(f"side by side, {n} submissions: plain nbgrader autograde {t_plain:.1f} s, "
              f"python -m autograder grade -j1 {t_ours:.1f} s (includes a gradebook sync of "
              f"{t_sync:.1f} s)")
        parts = {}
        for r in res:
            for k, v in r.timings.items():
                parts.setdefault(k, []).append(v)
        where = {k: statistics.mean(v) for k, v in parts.items()}
        print(f"{'sample':20s} {'plain nbgrader':>14s} {'after attacker':>14s} "
              f"{'autograder':>10s}  flags")
        for r in sorted(res, key=lambda r: r.student):
            print(f"{r.student:20s} {plain_scores.get(r.student, 'none'):>14} "
                  f"{plain_after.get(r.student, 'none'):>14} {r.score:>10g}  "
                  f"{'; '.join(r.flags)[:90]}")
        print("per submission, ours: " + ", ".join(f"{k} {v:.2f} s" for k, v in sorted(where.items())))

        # 2. parallel gain on the same machine
        k = args.parallel_sample
        subs_k = downloads(tmp / "par", k)
        c1, c2 = Course(instructor=tmp / "par1"), Course(instructor=tmp / "par2")
        sync_gradebook(c1, A)
        sync_gradebook(c2, A)
        t_j1, r1 = ours(c1, subs_k, jobs=1)
        t_j2, r2 = ours(c2, subs_k, jobs=2)
        same = sorted((r.student, r.score) for r in r1) == sorted((r.student, r.score) for r in r2)
        print(f"{k} submissions: -j1 {t_j1:.1f} s, -j2 {t_j2:.1f} s, same scores: {same}")

        # 3. a class end to end
        N = args.class_size
        subs_n = downloads(tmp / "class", N)
        cc = Course(instructor=tmp / "class-inst")
        t0 = time.perf_counter()
        collect(cc, A, subs_n, quiet=True)
        t_collect = time.perf_counter() - t0
        t0 = time.perf_counter()
        rc = grade(cc, A, jobs=2, progress=False)
        t_grade = time.perf_counter() - t0
        t0 = time.perf_counter()
        feedback(cc, A)
        t_feedback = time.perf_counter() - t0
        t0 = time.perf_counter()
        export(cc)
        t_export = time.perf_counter() - t0
        total = t_collect + t_grade + t_feedback + t_export
        print(f"class of {N}: collect {t_collect:.1f} s, grade -j2 {t_grade:.1f} s, feedback "
              f"{t_feedback:.1f} s, export {t_export:.1f} s; total {total:.1f} s")

    print(f"plain_nbgrader_s_per_submission: {per_plain:.2f}")
    print(f"autograder_s_per_submission: {per_ours:.2f}")
    print(f"autograder_vs_plain_ratio: {per_ours / per_plain:.2f}")
    for key, v in sorted(where.items()):
        print(f"autograder_{key}_s: {v:.2f}")
    print(f"parallel_j1_s: {t_j1:.1f}")
    print(f"parallel_j2_s: {t_j2:.1f}")
    print(f"parallel_speedup_j2: {t_j1 / t_j2:.2f}")
    print(f"parallel_same_scores: {same}")
    print(f"class_size: {N}")
    print(f"class_grade_j2_s: {t_grade:.1f}")
    print(f"class_feedback_s: {t_feedback:.1f}")
    print(f"class_end_to_end_s: {total:.1f}")
    print(f"class_s_per_submission: {total / N:.2f}")
    print(f"class_all_graded: {all(r.status == 'graded' for r in rc)}")


if __name__ == "__main__":
    main()
