"""autograder: how the course judges work.

In a notebook, each test cell holds one call::

    from autograder import check
    check("excitation", "values", Excitation)

which runs one check family (``"basic"`` for the visible test; ``"shape"``, ``"values"``,
``"gradient"``, ``"device"`` for the graded ones) of one exercise against the student's object,
prints a one-line summary when it passes, and raises :class:`CheckFailed` (an ``AssertionError``)
whose message is the hint when it fails.

The command line (``python -m autograder --help``) checks whole notebooks and grades submissions.
"""
from __future__ import annotations

from .judge.verdict import CheckFailed, Outcome

__all__ = ["check", "run_check", "CheckFailed", "Outcome", "EXERCISES", "FAMILIES", "Exercise",
           "Case"]


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


def check(exercise_id: str, family: str, obj, *, seed: int | None = None) -> None:
    """The call in a notebook's test cell: print the verdict, or raise :class:`CheckFailed`."""
    outcome = run_check(exercise_id, family, obj, seed=seed)
    if not outcome.passed:
        raise CheckFailed(outcome.message, outcome.mistake)
    print(f"\u2713 {outcome.message}")


def _short_traceback(shell, etype, value, tb, tb_offset=None):
    """IPython shows a failed check as its hint alone: the grader's frames say nothing useful."""
    red, reset = "\x1b[31m", "\x1b[0m"
    stb = [f"{red}{etype.__name__}{reset}: {value}"]
    shell._showtraceback(etype, value, stb)
    return stb


def _install_short_traceback() -> None:
    try:
        shell = get_ipython()  # noqa: F821 - defined only inside IPython
    except NameError:
        return
    shell.set_custom_exc((CheckFailed,), _short_traceback)


_install_short_traceback()
