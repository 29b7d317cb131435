"""One typical mistake per solution cell of lesson 02, and a phrase its feedback must show.

``MISTAKES = {grade_id: (wrong source of the whole solution cell, substring of the hint)}``;
tests/test_lessons.py submits each one alone and checks that it loses points in that exercise
only, with the hint in the feedback.
"""

# the mistakes the demo's students make too are taken from the demo, one text for both
from autograder.demo import students as demo

MISTAKES = {
    # the seed tutorial's width: 0 for C < r
    "reduced_width": (demo.REDUCED_WIDTH_FLOOR, "channels // reduction is 0 when C"),
    # attention as a softmax: the channels compete for one unit of weight
    "excitation": (demo.EXCITATION_SOFTMAX, "a softmax instead of a sigmoid"),
    # the squeeze takes the maximum of each map
    "channel_se": ('''
class ChannelSE(nn.Module):
    def __init__(self, channels, reduction=16):
        super().__init__()
        self.excitation = Excitation(channels, reduction)

    def gate(self, x):
        n, c = x.shape[:2]
        return self.excitation(x.amax(dim=(2, 3))).view(n, c, 1, 1)

    def forward(self, x):
        return x * self.gate(x)
''', "The squeeze uses max pooling"),
    # the weights of fc1 and fc2, without their biases
    "cse_params": (demo.CSE_PARAMS_WEIGHTS_ONLY, "This counts the weights only"),
    # ECA's kernel fixed at 3 instead of derived from C
    "eca": (demo.ECA_FIXED_KERNEL, "it is derived from C"),
}
