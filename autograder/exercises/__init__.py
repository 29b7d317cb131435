"""Every exercise of the course, by its grade_id.

Each module here defines the exercises of one topic and lists them in its ``EXERCISES``; the
contract exercises (global_avg_pool, excitation, channel_se, spatial_se, scse) are in gap, cse,
sse and scse, the lessons' own exercises in the lessonNN modules.
"""
from __future__ import annotations

import importlib
import pkgutil

from ..judge.exercise import Exercise

_ORDER = ["gap", "cse", "sse", "scse"]


def _modules() -> list[str]:
    found = sorted(m.name for m in pkgutil.iter_modules(__path__))
    return _ORDER + [m for m in found if m not in _ORDER]


#: grade_id -> exercise
EXERCISES: dict[str, Exercise] = {}
for _name in _modules():
    for _exercise in importlib.import_module(f"{__name__}.{_name}").EXERCISES:
        if _exercise.id in EXERCISES:
            raise RuntimeError(f"two exercises have the grade_id {_exercise.id!r}")
        EXERCISES[_exercise.id] = _exercise


def get(exercise_id: str) -> Exercise:
    """The exercise with this grade_id; ``KeyError`` naming the known ones otherwise."""
    try:
        return EXERCISES[exercise_id]
    except KeyError:
        raise KeyError(f"no exercise {exercise_id!r}; known: {', '.join(EXERCISES)}") from None
