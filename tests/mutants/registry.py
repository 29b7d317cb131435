"""The one registry of wrong (and right) implementations the tests hand the grader.

- The mutants of every contract exercise: the modules here (``gap.py``, ``excitation.py``, ...)
  are data, notebook-cell source text and what the grader should say about it. This module turns
  each into a :class:`Mutant` and judges a run of the check families on one (:func:`judge`).
- One typical mistake per solution cell of each lesson (``tests/lesson_mistakes/<lesson>.py``),
  which ``tests/test_lessons.py`` hands in to real nbgrader: :func:`lesson_mistakes`.

Everything is imported as ``tests.mutants.<name>`` and ``tests.lesson_mistakes.<lesson>``, the
same way by every user (``tests/test_mutation.py``, ``tests/test_isolation.py``,
``tests/test_lessons.py``, ``bench/mutation_report.py``, which puts the repository on
``sys.path``).

A mutant is available both as source text (:attr:`Mutant.cell`, what a notebook cell would hold,
for a subject that runs code in a sandboxed kernel) and as a Python object (:meth:`Mutant.build`,
the cell executed into a fresh namespace, for :func:`autograder.run_check` in this process).

>>> m = by_id("global_avg_pool/max-pool")
>>> m.defines, m.expected.family, m.expected.mistakes
('global_avg_pool', 'values', ('max-pool',))
>>> m.build()(__import__("torch").ones(1, 2, 3)).shape
torch.Size([1, 2])
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

HERE = Path(__file__).resolve().parent
#: the lessons' typical mistakes, one module per assignment
LESSON_MISTAKES = HERE.parent / "lesson_mistakes"
#: the mutant modules of the contract exercises, in the course's order
MODULES = ("gap", "excitation", "channel_se", "spatial_se", "scse")
#: the mutant modules of lessons' own exercises (fewer mutants: mostly data-dependent styles;
#: the lessons' other wrong answers are in tests/test_exercises_lessonNN.py)
LESSON_MODULES = ("kept_mask", "kept_iou")
#: the families a verdict runs, in order: the first that fails is the one that must match
FAMILIES = ("shape", "values", "gradient", "device")
#: the bug classes a wrong mutant can belong to
BUG_CLASSES = ("shape", "value", "gradient", "device")


@dataclass(frozen=True)
class Expected:
    """What the grader should say about a mutant.

    Attributes:
        correct: whether the mutant is a correct implementation (it must pass every family).
        family: for a wrong one, the first family (of :data:`FAMILIES`) that must fail.
        mistakes: the accepted ``Outcome.mistake`` labels of that failure.
        hint: a phrase the hint must contain (case-insensitive).
        bug: the bug class (:data:`BUG_CLASSES`).
        gap: for a wrong mutant the grader is known not to catch (yet), why; ``family``,
            ``mistakes`` and ``hint`` then say what it should answer.
    """

    correct: bool
    family: str | None = None
    mistakes: tuple[str, ...] = ()
    hint: str | None = None
    bug: str | None = None
    gap: str | None = None


@dataclass(frozen=True)
class Mutant:
    """One implementation of an exercise, as a notebook cell would hold it.

    Attributes:
        exercise: the grade_id (``"channel_se"``).
        name: the mutant's name, unique within the exercise (``"max-pool"``).
        defines: the name the cell defines (``"ChannelSE"``).
        preamble: what the notebook provides before the cell (imports, earlier exercises).
        source: the cell's code.
        expected: what the grader should say.
        what: the student's mistake, or the style of a correct one, in words.
    """

    exercise: str
    name: str
    defines: str
    preamble: str
    source: str
    expected: Expected
    what: str = ""

    @property
    def id(self) -> str:
        return f"{self.exercise}/{self.name}"

    @property
    def cell(self) -> str:
        """The whole code to run in a fresh kernel: the preamble, then the cell."""
        return self.preamble + self.source

    def build(self):
        """Execute :attr:`cell` in a fresh namespace and return the object it defines."""
        namespace = {"__name__": f"mutant_{self.exercise}_{self.name.replace('-', '_')}"}
        exec(compile(self.cell, f"<mutant {self.id}>", "exec"), namespace)  # noqa: S102
        return namespace[self.defines]

    def record(self) -> tuple[str, str, str, Expected]:
        """``(exercise_id, name defined, source, expected)``: everything a subject needs."""
        return self.exercise, self.defines, self.cell, self.expected


def _load_module(stem: str):
    return importlib.import_module(f"tests.mutants.{stem}")


def _mutant(module, spec: dict) -> Mutant:
    known = {"name", "source", "correct", "style", "bug", "family", "mistake", "hint", "what",
             "gap"}
    unknown = set(spec) - known
    if unknown:
        raise ValueError(f"{module.EXERCISE}/{spec.get('name')}: unknown keys {sorted(unknown)}")
    if spec.get("correct"):
        expected = Expected(correct=True)
        what = spec.get("style", "")
    else:
        mistakes = spec["mistake"]
        mistakes = (mistakes,) if isinstance(mistakes, str) else tuple(mistakes)
        if spec["family"] not in FAMILIES or spec["bug"] not in BUG_CLASSES:
            raise ValueError(f"{module.EXERCISE}/{spec['name']}: bad family or bug class")
        expected = Expected(False, spec["family"], mistakes, spec["hint"], spec["bug"],
                            spec.get("gap"))
        what = spec.get("what", "")
    return Mutant(module.EXERCISE, spec["name"], module.DEFINES, module.PREAMBLE,
                  spec["source"].lstrip("\n"), expected, what)


def all_mutants(exercise: str | None = None, *, lessons: bool = False) -> list[Mutant]:
    """Every mutant of the contract exercises (of one exercise, given its grade_id), in the order
    of the modules; with ``lessons``, also those of the lessons' own exercises."""
    found = []
    for stem in MODULES + (LESSON_MODULES if lessons else ()):
        module = _load_module(stem)
        if exercise is not None and module.EXERCISE != exercise:
            continue
        found += [_mutant(module, spec) for spec in module.MUTANTS]
    ids = [m.id for m in found]
    duplicates = {i for i in ids if ids.count(i) > 1}
    if duplicates:
        raise ValueError(f"duplicate mutant names: {sorted(duplicates)}")
    return found


def exercises(*, lessons: bool = False) -> list[str]:
    """The grade_ids of the contract exercises that have mutants, in the course's order (with
    ``lessons``, then those of the lessons' own exercises)."""
    return [_load_module(stem).EXERCISE for stem in MODULES + (LESSON_MODULES if lessons else ())]


def by_id(mutant_id: str) -> Mutant:
    """The mutant ``"exercise/name"``."""
    for m in all_mutants(lessons=True):
        if m.id == mutant_id:
            return m
    raise KeyError(mutant_id)


def records() -> list[tuple[str, str, str, Expected]]:
    """``(exercise_id, name defined, source, expected)`` of every mutant (:meth:`Mutant.record`)."""
    return [m.record() for m in all_mutants()]


def lesson_mistakes(assignment: str) -> dict[str, tuple[str, str]]:
    """``grade_id -> (wrong source of the whole solution cell, a phrase its hint must show)``:
    the typical mistakes of one lesson, ``{}`` for a lesson that has none listed."""
    if not (LESSON_MISTAKES / f"{assignment}.py").exists():
        return {}
    return importlib.import_module(f"tests.lesson_mistakes.{assignment}").MISTAKES


# --- judging -------------------------------------------------------------------------------------

#: ``check(mutant, family, seed) -> Outcome``: runs one family on one mutant somewhere
Check = Callable[[Mutant, str, int], object]


def local_check(mutant: Mutant, family: str, seed: int):
    """Run a family in this process, on the object the mutant's cell defines."""
    from autograder import run_check

    return run_check(mutant.exercise, family, _built(mutant), seed=seed)


_BUILT: dict[str, object] = {}


def _built(mutant: Mutant):
    if mutant.id not in _BUILT:
        _BUILT[mutant.id] = mutant.build()
    return _BUILT[mutant.id]


@dataclass
class Verdict:
    """How the grader treated a mutant for one seed.

    Attributes:
        mutant: the mutant.
        seed: the seed of the run.
        outcomes: the outcomes of the families run, in order (a wrong mutant stops at the first
            failure; a correct one runs every family and ``basic``).
        killed: a wrong mutant failed some family.
        hint_ok: a wrong mutant's first failure is in the expected family, with an expected
            mistake label and the expected phrase in the hint.
        passed_all: a correct mutant passed every family.
    """

    mutant: Mutant
    seed: int
    outcomes: list
    killed: bool = False
    hint_ok: bool = False
    passed_all: bool = False

    @property
    def first_failure(self):
        return next((o for o in self.outcomes if not o.passed), None)

    @property
    def ok(self) -> bool:
        """Whether the grader did what the mutant expects."""
        return self.passed_all if self.mutant.expected.correct else self.hint_ok

    def explain(self) -> str:
        """Why the verdict is not what the mutant expects (for test failures and reports)."""
        exp = self.mutant.expected
        lines = [f"{self.mutant.id} (seed {self.seed}): {self.mutant.what}"]
        for o in self.outcomes:
            state = "passed" if o.passed else f"FAILED [{o.mistake}]"
            lines.append(f"  {o.family}: {state}: {o.message}")
        if exp.correct:
            lines.append("  expected: every family passes")
        else:
            lines.append(f"  expected: first failure in {exp.family}, mistake in "
                         f"{list(exp.mistakes)}, hint containing {exp.hint!r}")
        if exp.gap:
            lines.append(f"  known gap of the grader: {exp.gap}")
        return "\n".join(lines)


def families_of(exercise: str, families: Sequence[str] = FAMILIES) -> list[str]:
    """Those of ``families`` that the exercise has (kept_iou has no gradient family)."""
    from autograder.exercises import get

    have = get(exercise).families
    return [f for f in families if f in have]


def judge(mutant: Mutant, seed: int, check: Check = local_check,
          families: Sequence[str] = FAMILIES) -> Verdict:
    """Run the families (those the exercise has) on a mutant and compare with what it expects."""
    exp = mutant.expected
    families = families_of(mutant.exercise, families)
    outcomes = []
    if exp.correct:
        for family in ("basic", *families):
            outcomes.append(check(mutant, family, seed))
        return Verdict(mutant, seed, outcomes, passed_all=all(o.passed for o in outcomes))
    for family in families:
        outcome = check(mutant, family, seed)
        outcomes.append(outcome)
        if not outcome.passed:
            break
    verdict = Verdict(mutant, seed, outcomes)
    first = verdict.first_failure
    verdict.killed = first is not None
    verdict.hint_ok = (first is not None and first.family == exp.family
                       and first.mistake in exp.mistakes
                       and exp.hint.lower() in first.message.lower())
    return verdict
