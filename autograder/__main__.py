"""The course's command line: ``python -m autograder {check,release} ...``."""
from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m autograder",
        description="Check notebooks of the scSE course and release them.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("check", help="run every check of every exercise in notebooks and print "
                                     "a table with hints (for self-learners)")
    p.add_argument("notebooks", nargs="+", help="notebook files (.ipynb)")
    p.add_argument("--timeout", type=int, default=60, help="seconds per cell (default 60)")
    p.add_argument("--seed", type=int, default=None, help="seed of the checks' random inputs "
                   "(default: fresh each run)")

    p = sub.add_parser("release", help="regenerate notebooks/ from solutions/ with nbgrader")
    p.add_argument("assignments", nargs="*", help="assignment ids (default: all)")

    args = parser.parse_args(argv)
    if args.command == "check":
        from .selfcheck import main as check_main
        return check_main(args.notebooks, timeout=args.timeout, seed=args.seed)
    if args.command == "release":
        from .release import main as release_main
        return release_main(args.assignments or None)
    return 2


if __name__ == "__main__":
    sys.exit(main())
