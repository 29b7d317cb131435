"""Every exercise of the course, by its grade_id."""
from __future__ import annotations

from ..exercise import Exercise
from .cse import ChannelSEExercise, ExcitationExercise
from .gap import GlobalAvgPool
from .scse import SCSEExercise
from .sse import SpatialSEExercise

_ALL: list[Exercise] = [
    GlobalAvgPool(),
    ExcitationExercise(),
    ChannelSEExercise(),
    SpatialSEExercise(),
    SCSEExercise(),
]

#: grade_id -> exercise
EXERCISES: dict[str, Exercise] = {ex.id: ex for ex in _ALL}


def get(exercise_id: str) -> Exercise:
    """The exercise with this grade_id; ``KeyError`` naming the known ones otherwise."""
    try:
        return EXERCISES[exercise_id]
    except KeyError:
        raise KeyError(f"no exercise {exercise_id!r}; known: {', '.join(EXERCISES)}") from None
