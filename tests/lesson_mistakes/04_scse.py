"""One typical mistake per solution cell of lesson 04, and a phrase its feedback must show.

``MISTAKES = {grade_id: (wrong source of the whole solution cell, substring of the hint)}``;
tests/test_lessons.py submits each one alone and checks that it loses points in that exercise
only, with the hint in the feedback.
"""

# the mistakes the demo's students make too are taken from the demo, one text for both
from autograder.demo import students as demo

MISTAKES = {
    # max-out taken on the gates: x * max(g_c, g_s), which differs from max(x g_c, x g_s) for x < 0
    "scse": (demo.SCSE_MAX_OF_GATES, "max-out compares the two scaled outputs"),
    # CBAM's channel gate without its max branch
    "cbam": (demo.CBAM_AVERAGE_ONLY, "uses only the average of each map"),
    # the SE unit after the addition and the ReLU: SENet's SE-POST
    "se_residual": ('''
class SEResidualBlock(nn.Module):
    def __init__(self, channels, reduction=16):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.se = ChannelSE(channels, reduction)

    def forward(self, x):
        out = self.conv2(F.relu(self.conv1(x)))
        return self.se(F.relu(x + out))
''', "SE-POST"),
}
