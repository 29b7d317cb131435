"""autograder: how the course judges work.

In a notebook, the check cell under an exercise holds one call::

    from autograder import check
    check("excitation", "basic", Excitation)

``"basic"`` is the visible check: it runs every check family of the exercise (shape, values,
gradient, device) on public inputs (a fixed seed), prints a ✓ line per family, and raises
:class:`CheckFailed` (an ``AssertionError``) whose message is the same per-family block with the
hint of each failure. The graded cells call one family each (``check("excitation", "values",
Excitation)``), print a one-line summary when it passes and raise with the hint when it fails;
grading runs them on fresh, secret inputs.

The last cell of a lesson calls :func:`check_all`: the table of every family of every exercise,
from what the student's kernel holds. The command line (``python -m autograder --help``) checks
whole notebooks and grades submissions.
"""
from __future__ import annotations

import os
import sys

from .judge.verdict import CheckFailed, Outcome

__all__ = ["check", "check_all", "run_check", "verdicts", "CheckFailed", "Outcome", "EXERCISES",
           "FAMILIES", "Exercise", "Case"]

def __getattr__(name: str):
    # the exercise catalogue loads on first use: a grading kernel imports only what it runs
    if name == "EXERCISES":
        from .exercises import EXERCISES
        return EXERCISES
    if name in ("FAMILIES", "Exercise", "Case"):
        from .judge import exercise
        return getattr(exercise, name)
    raise AttributeError(f"module 'autograder' has no attribute {name!r}")


def run_check(exercise_id: str, family: str, obj, *, seed: int | None = None) -> Outcome:
    """Run one check family of one exercise on ``obj`` in this process; return the verdict.

    ``family="basic"`` runs every family on one seed (the public one by default) and returns
    one outcome, with each family's in ``details["families"]``.

    The checks run with one torch thread (restored afterwards): their tensors are tiny, and
    with several threads on a busy machine they ran 10 to 20 times slower.
    """
    import torch

    from .exercises import get
    from .judge.subjects import LocalSubject

    exercise = get(exercise_id)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return exercise.check(family, LocalSubject({exercise.name: obj}), seed)
    finally:
        torch.set_num_threads(threads)


def _nbgrader_running() -> str | None:
    """``"validate"`` or ``"autograde"`` while nbgrader runs the notebook (nbgrader sets
    ``NBGRADER_EXECUTION`` for the kernels it starts), ``None`` otherwise."""
    return os.environ.get("NBGRADER_EXECUTION") or None


def _skipped_note(what: str) -> str:
    verb = "validates" if _nbgrader_running() == "validate" else "grades"
    return (f"({what}: not run while nbgrader {verb} this notebook; the graded checks do the "
            "judging)")


def check(exercise_id: str, family: str, obj, *, seed: int | None = None) -> None:
    """The call in a notebook's check cell: print the verdict, or raise :class:`CheckFailed`.

    ``family="basic"`` (the visible check under each exercise) runs every family on the public
    seed and shows one line per family; while nbgrader validates or grades the notebook it only
    prints a note, since the graded cells run the same families then.
    """
    if family == "basic":
        if _nbgrader_running():
            print(_skipped_note(f"the visible check of {exercise_id}"))
            return
        from .exercises import get
        from .selfcheck import public_block

        outcome = run_check(exercise_id, family, obj, seed=seed)
        text = public_block(get(exercise_id).name, [
            dict(family=o.family, passed=o.passed, message=o.message)
            for o in outcome.details["families"]])
        if not outcome.passed:
            raise CheckFailed(text, outcome.mistake)
        print(text)
        return
    outcome = run_check(exercise_id, family, obj, seed=seed)
    if not outcome.passed:
        raise CheckFailed(outcome.message, outcome.mistake)
    print(f"\u2713 {outcome.message}")


def verdicts(exercise_ids, namespace, *, seed: int | None = None) -> list[dict]:
    """Every family of every exercise in ``exercise_ids``, run on the objects ``namespace``
    holds under the exercises' names: ``[{exercise, family, passed, message, ran_on}, ...]``
    (what :func:`check_all` and ``python -m autograder check`` tabulate)."""
    from .exercises import get

    rows = []
    for exercise_id in exercise_ids:
        exercise = get(exercise_id)
        obj = namespace.get(exercise.name)
        for family in exercise.families:
            if obj is None:
                rows.append(dict(exercise=exercise_id, family=family, passed=False, ran_on=None,
                                 message=f"{exercise.name} is not defined: its cell did not run "
                                         "(run it, and the cells above it) or the name was "
                                         "changed."))
                continue
            o = run_check(exercise_id, family, obj, seed=seed)
            rows.append(dict(exercise=o.exercise, family=o.family, passed=o.passed,
                             message=o.message, ran_on=o.ran_on))
    return rows


def _defined_in(namespace) -> list[str]:
    """Exercises whose name ``namespace`` defines itself (not imported: lesson 04 imports the
    reference's ``ChannelSE``, which is not an answer)."""
    from .exercises import EXERCISES

    home = namespace.get("__name__", "__main__")
    return [ex.id for ex in EXERCISES.values()
            if ex.name in namespace and getattr(namespace[ex.name], "__module__", home) == home]


def check_all(*exercise_ids: str, seed: int | None = None, namespace=None) -> None:
    """Print the lesson's table: every family of every exercise, with the hint of each failure.

    Runs on what the calling notebook's kernel holds now (no file is read or saved), with inputs
    drawn from a fresh seed, as grading does. ``exercise_ids`` default to every exercise whose
    name the notebook defines. While nbgrader validates or grades the notebook it only prints a
    note: the graded cells run the same checks then.
    """
    if _nbgrader_running():
        print(_skipped_note("check_all"))
        return
    from .judge.context import default_seed
    from .selfcheck import table, wrap

    namespace = sys._getframe(1).f_globals if namespace is None else namespace
    ids = list(exercise_ids) or _defined_in(namespace)
    if not ids:
        print("check_all: no exercise of the course is defined here yet; run the exercise cells "
              "first.")
        return
    rows = verdicts(ids, namespace, seed=default_seed() if seed is None else seed)
    passed = sum(r["passed"] for r in rows)
    print(table(rows))
    print()
    print("\n".join(wrap(
        f"{passed} of {len(rows)} checks passed" + (
            ": everything the grader checks works on these inputs. Grading draws other inputs; "
            "press Validate before you hand in." if passed == len(rows) else
            ". Fix the first failure above, run its cell and its check, then run this cell "
            "again."), "", 0)))


def _short_traceback(shell, etype, value, tb, tb_offset=None):
    """IPython shows a failed check as its hint alone (the grader's frames say nothing useful),
    in lines short enough for ``nbgrader validate``, which cuts every line of an error at 87
    characters, 4 of them its indent."""
    import textwrap

    from .selfcheck import WIDTH

    red, reset = "\x1b[31m", "\x1b[0m"
    lines = []
    for line in f"{etype.__name__}: {value}".splitlines():
        lead = line[:len(line) - len(line.lstrip())]
        lines += textwrap.wrap(line, WIDTH, subsequent_indent=lead,
                               break_long_words=False) or [line]
    name = etype.__name__
    stb = [f"{red}{name}{reset}{lines[0][len(name):]}", *lines[1:]]
    shell._showtraceback(etype, value, stb)
    return stb


def _notebook_setup() -> None:
    """In a notebook (the lesson's set-up cell imports this module): failed checks show as their
    hint alone, and torch's one-time import of its compiler stack happens now rather than in the
    first visible check. The device family runs operations on the meta device, and the first
    such run imports ``torch._dynamo``: 2.7 to 3.5 s measured on the project's loaded 2-core
    machine, which would otherwise land in the student's first check."""
    try:
        shell = get_ipython()  # noqa: F821 - defined only inside IPython
    except NameError:
        return
    shell.set_custom_exc((CheckFailed,), _short_traceback)
    import torch._dynamo  # noqa: F401


_notebook_setup()
