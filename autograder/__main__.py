"""The course's command line: ``python -m autograder {check,release,grade,demo} ...``."""
from __future__ import annotations

import argparse
import sys


def parser() -> argparse.ArgumentParser:
    """The command line's parser (its defaults come from :class:`~.kernel.limits.Limits`)."""
    from .kernel.limits import Limits

    parser = argparse.ArgumentParser(
        prog="python -m autograder",
        description="The scSE course: check notebooks, release them, grade a class, run the demo.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("check", help="run every check of every exercise in notebooks and print "
                                     "a table with hints (for self-learners)")
    p.add_argument("notebooks", nargs="+", help="notebook files (.ipynb)")
    p.add_argument("--timeout", type=int, default=60, help="seconds per cell (default 60)")
    p.add_argument("--seed", type=int, default=None, help="seed of the checks' random inputs "
                   "(default: fresh each run)")

    p = sub.add_parser("release", help="regenerate notebooks/ from solutions/ with nbgrader")
    p.add_argument("assignments", nargs="*", help="assignment ids (default: all)")

    p = sub.add_parser("grade", help="grade every submission in submitted/ of an nbgrader course "
                                     "(run in the course folder): grades.csv, feedback, report")
    p.add_argument("assignments", nargs="*", help="assignment ids (default: all with submissions)")
    p.add_argument("--course", default=".", help="course folder (default: the current one)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--jobs", "-j", type=int, default=0, help="local worker processes "
                       "(default: one per CPU core)")
    where.add_argument("--cluster", metavar="ADDRESS", default=None,
                       help="grade on a Dask cluster: the scheduler's address (tcp://HOST:8786), "
                            "or local:N for a LocalCluster of N worker processes")
    p.add_argument("--force", action="store_true", help="grade again what is already graded")
    p.add_argument("--mode", choices=["isolated", "in-kernel"], default="isolated",
                   help="isolated (default): checks run in the grader, student code in a "
                        "sandboxed kernel; in-kernel: nbgrader's way, tests in the student's kernel")
    p.add_argument("--sandbox", choices=["bwrap", "none"], default="bwrap",
                   help="bwrap (default): every student's kernel in an OS sandbox made with "
                        "bubblewrap, refusing to start where it cannot be made; none: without "
                        "it (every report and feedback then says grading was not OS-isolated)")
    p.add_argument("--time-limit", type=float, default=Limits.exercise_timeout,
                   help="CPU seconds for all checks of one exercise (default "
                        f"{Limits.exercise_timeout:g}; wall clock: {Limits.wall_factor:g} times "
                        "that)")
    p.add_argument("--cell-timeout", type=float, default=Limits.cell_timeout,
                   help="CPU seconds per cell of the student's notebook (default "
                        f"{Limits.cell_timeout:g}; wall clock: {Limits.wall_factor:g} times that)")
    p.add_argument("--memory-mb", type=int, default=Limits.memory_mb,
                   help="memory limit of each student's kernel in MiB (default "
                        f"{Limits.memory_mb})")
    p.add_argument("--seed", type=int, default=-1, help="seed of the checks (default: fresh "
                   "per submission)")
    p.add_argument("--gradescope", action="store_true", help="also write Gradescope results.json")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")

    p = sub.add_parser("demo", help="the whole job on a synthetic class: release the lessons into "
                                    "a scratch course (demo-course/), collect a synthetic class "
                                    "(good, wrong and broken), grade them, write the reports")
    p.add_argument("--course", default=None, help="scratch course folder, deleted and rebuilt "
                   "(default: demo-course/ in the repository)")
    p.add_argument("--jobs", "-j", type=int, default=0, help="worker processes (default: one "
                   "per CPU core)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "check":
        from .selfcheck import main as check_main
        return check_main(args.notebooks, timeout=args.timeout, seed=args.seed)
    if args.command == "release":
        from .nbgrader.release import main as release_main
        return release_main(args.assignments or None)
    if args.command == "grade":
        from .batch.run import ClusterError, Options, grade
        from .kernel.sandbox import SandboxUnavailable
        options = Options(mode=args.mode, sandbox=args.sandbox, jobs=args.jobs,
                          cluster=args.cluster, force=args.force,
                          cell_timeout=args.cell_timeout, exercise_timeout=args.time_limit,
                          memory_mb=args.memory_mb, seed=args.seed, gradescope=args.gradescope,
                          progress=not args.no_progress)
        try:
            summary = grade(args.course, args.assignments or None, options)
        except (FileNotFoundError, ValueError, ClusterError, SandboxUnavailable) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"graded {len(summary.graded)}, skipped {len(summary.skipped)} already graded, "
              f"failed {len(summary.failed)} in {summary.seconds:.1f} s")
        for task, error in summary.failed:
            print(f"  {task.student} / {task.assignment}: {error}")
        if summary.report_dir is not None:
            print(f"class report: {summary.report_dir / 'index.html'}")
        return 1 if summary.failed else 0
    if args.command == "demo":
        from .demo.run import main as demo_main
        return demo_main(args.course, jobs=args.jobs, progress=not args.no_progress)
    return 2


if __name__ == "__main__":
    sys.exit(main())
