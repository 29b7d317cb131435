"""One typical mistake per solution cell of lesson 03, and a phrase its feedback must show.

``MISTAKES = {grade_id: (wrong source of the whole solution cell, substring of the hint)}``;
tests/test_lessons.py submits each one alone and checks that it loses points in that exercise
only, with the hint in the feedback.
"""

# the mistakes the demo's students make too are taken from the demo, one text for both
from autograder.demo import students as demo

MISTAKES = {
    # the seed's wording taken literally: a mean over the channels instead of the learned 1x1 conv
    "spatial_se": (demo.SPATIAL_SE_MEAN, "mean over the channels"),
    # ">=" where the exercise asks for a strict comparison
    "kept_mask": (demo.KEPT_MASK_GE, "strict comparison"),
    # no care for an empty union: 0 / 0 gives nan
    "kept_iou": ('''
def kept_iou(gate, mask, threshold=0.5):
    kept = gate > threshold
    inter = (kept & mask).flatten(1).sum(dim=1)
    union = (kept | mask).flatten(1).sum(dim=1)
    return (inter / union).to(gate.dtype)
''', "0 / 0 = nan"),
}
