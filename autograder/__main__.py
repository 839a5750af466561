"""The instructor's command line: ``python -m autograder COMMAND`` (see autograder/README.md)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .course import AutograderError, Course, ensure_path

COMMANDS = "release, collect, grade, feedback, export, demo"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m autograder",
        description="Release, collect, grade, give feedback on and export the course's "
                    "nbgrader assignments.")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--instructor", type=Path, default=None, metavar="DIR",
                        help="instructor folder: gradebook, submissions, feedback "
                             "(default: $LRLAB_INSTRUCTOR or <repo>/instructor)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    r = sub.add_parser("release", parents=[common], help="regenerate exercises/ from solutions/")
    r.add_argument("assignment", nargs="*", help="default: every assignment in solutions/")
    c = sub.add_parser("collect", parents=[common],
                       help="take a folder or .zip of submissions into submitted/")
    c.add_argument("assignment")
    c.add_argument("path", type=Path)
    g = sub.add_parser("grade", parents=[common], help="autograde submissions")
    g.add_argument("assignment")
    g.add_argument("--student", action="append", default=None, metavar="ID",
                   help="grade only this student (repeatable)")
    g.add_argument("--jobs", "-j", type=int, default=1, help="students graded at once (default 1)")
    g.add_argument("--timeout", type=int, default=None, help="seconds per cell (default 30)")
    g.add_argument("--memory-mb", type=int, default=None,
                   help="memory limit per process of a grading kernel in MiB (default 2048)")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    g.add_argument("--no-sandbox", action="store_true",
                   help="run grading kernels without the bubblewrap sandbox (trusted work only)")
    g.add_argument("--gpu", action="store_true", help="let grading kernels use the GPU")
    f = sub.add_parser("feedback", parents=[common], help="HTML feedback per student")
    f.add_argument("assignment")
    f.add_argument("--student", action="append", default=None, metavar="ID")
    e = sub.add_parser("export", parents=[common],
                       help="CSV, one row per student and assignment, with flags")
    e.add_argument("--out", type=Path, default=None, help="default: <instructor>/grades.csv")
    d = sub.add_parser("demo", help="the whole pipeline on the bundled samples, then a summary")
    d.add_argument("assignment", nargs="*", help="default: every assignment with samples")
    d.add_argument("--jobs", "-j", type=int, default=2)
    d.add_argument("--keep", type=Path, default=None, metavar="DIR",
                   help="use DIR as the instructor folder and keep it (gradebook, feedback, "
                        "grades.csv, summary.html); by default a temp folder, deleted at the end")
    d.add_argument("--timeout", type=int, default=None,
                   help="seconds per cell (default 10, what the samples are made for)")
    d.add_argument("--all", action="store_true", dest="every",
                   help="grade every sample (default: a tour of each assignment's samples)")
    d.add_argument("--details", action="store_true",
                   help="also print every student's score, status and flags")
    d.add_argument("--quiet", action="store_true", help="no progress bar")
    d.add_argument("--include-solution", action="store_true",
                   help="also grade each solutions/ notebook, as student _solution")
    d.add_argument("--no-sandbox", action="store_true", help="as for grade")
    w = sub.add_parser("_worker", parents=[common])  # internal: a grading worker of the batch
    w.add_argument("assignment")
    w.add_argument("--timeout", type=int, default=None)
    w.add_argument("--memory-mb", type=int, default=None)
    w.add_argument("--no-sandbox", action="store_true")
    w.add_argument("--gpu", action="store_true")
    return p


def _course(args) -> Course:
    kw = {}
    if getattr(args, "instructor", None):
        kw["instructor"] = args.instructor
    if getattr(args, "timeout", None):
        kw["timeout"] = args.timeout
    if getattr(args, "memory_mb", None):
        from .sandbox import Limits
        kw["limits"] = Limits(memory_mb=args.memory_mb)
    return Course(**kw)


def main(argv: list[str] | None = None) -> int:
    ensure_path()
    args = _parser().parse_args(argv)
    if not args.command:
        _parser().print_help()
        return 2
    try:
        if args.command == "release":
            from .release import release
            course = _course(args)
            names = [course.check_assignment(a) for a in args.assignment] or course.assignments()
            if not names:
                raise AutograderError(f"no assignments in {course.source}")
            for path in release(course, names):
                print(f"released {path.relative_to(course.root)}")
        elif args.command == "collect":
            from .collect import collect
            course = _course(args)
            done = collect(course, course.check_assignment(args.assignment), args.path)
            print(f"collected {len(done)} submission(s) of {args.assignment} into "
                  f"{course.step('submitted')}: {', '.join(done)}")
        elif args.command == "grade":
            from .grade import grade, summary
            course = _course(args)
            results = grade(course, course.check_assignment(args.assignment),
                            students=args.student, jobs=args.jobs, progress=not args.quiet,
                            sandbox=not args.no_sandbox, gpu=args.gpu)
            print(summary(results))
        elif args.command == "feedback":
            from .feedback import feedback
            course = _course(args)
            pages, failed = feedback(course, course.check_assignment(args.assignment), args.student)
            print(f"wrote {len(pages)} feedback file(s) under {course.step('feedback')}")
            if failed:
                print(f"no feedback for {len(failed)} student(s): {', '.join(failed)} "
                      "(each reason above and flagged in the export)", file=sys.stderr)
                return 1
        elif args.command == "export":
            from .export import export
            course = _course(args)
            out, rows = export(course, args.out)
            print(f"wrote {len(rows)} row(s) to {out}")
        elif args.command == "demo":
            from .demo import demo
            print(demo(args.assignment, jobs=args.jobs, keep=args.keep, timeout=args.timeout,
                       progress=not args.quiet, include_solution=args.include_solution,
                       sandbox=not args.no_sandbox, every=args.every, details=args.details))
        elif args.command == "_worker":
            import asyncio
            from .sandbox import data_limit
            from .worker import serve
            course = _course(args)
            with data_limit(course.limits.grader_memory_mb):
                return asyncio.run(serve(course, args.assignment, sandbox=not args.no_sandbox,
                                         gpu=args.gpu))
    except AutograderError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
