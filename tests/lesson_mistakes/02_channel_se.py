"""One typical mistake per solution cell of lesson 02, and a phrase its feedback must show.

``MISTAKES = {grade_id: (wrong source of the whole solution cell, substring of the hint)}``;
tests/test_lessons.py submits each one alone and checks that it loses points in that exercise
only, with the hint in the feedback.
"""

MISTAKES = {
    # the seed tutorial's width: 0 for C < r
    "reduced_width": ('''
def reduced_width(channels, reduction):
    return channels // reduction
''', "channels // reduction is 0 when C"),
    # attention as a softmax: the channels compete for one unit of weight
    "excitation": ('''
class Excitation(nn.Module):
    def __init__(self, channels, reduction=16):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)

    def forward(self, z):
        return torch.softmax(self.fc2(torch.relu(self.fc1(z))), dim=1)
''', "a softmax instead of a sigmoid"),
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
    "cse_params": ('''
def cse_params(channels, reduction):
    hidden = max(1, channels // reduction)
    return 2 * channels * hidden
''', "This counts the weights only"),
}
