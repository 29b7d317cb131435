"""One typical mistake per solution cell of lesson 01, and a phrase its feedback must show.

``MISTAKES = {grade_id: (wrong source of the whole solution cell, substring of the hint)}``;
tests/test_lessons.py submits each one alone and checks that it loses points in that exercise
only, with the hint in the feedback.
"""

# the mistakes the demo's students make too are taken from the demo, one text for both
from autograder.demo import students as demo

MISTAKES = {
    # the maximum of each map instead of its mean
    "global_avg_pool": (demo.GAP_MAX, "max pooling"),
    # probabilities instead of class scores: the softmax belongs to the loss
    "gap_head": (demo.GAP_HEAD_SOFTMAX, "GAPHead returns probabilities"),
    # the weights of the linear map of either head, without its biases
    "head_params": (demo.HEAD_PARAMS_WEIGHTS_ONLY, "This counts the weights only"),
}
