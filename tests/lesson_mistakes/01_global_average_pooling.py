"""One typical mistake per solution cell of lesson 01, and a phrase its feedback must show.

``MISTAKES = {grade_id: (wrong source of the whole solution cell, substring of the hint)}``;
tests/test_lessons.py submits each one alone and checks that it loses points in that exercise
only, with the hint in the feedback.
"""

MISTAKES = {
    # the maximum of each map instead of its mean
    "global_avg_pool": ('''
def global_avg_pool(x):
    return x.amax(dim=tuple(range(2, x.dim())))
''', "max pooling"),
    # probabilities instead of class scores: the softmax belongs to the loss
    "gap_head": ('''
class GAPHead(nn.Module):
    def __init__(self, channels, num_classes):
        super().__init__()
        self.conv = nn.Conv2d(channels, num_classes, kernel_size=1)

    def forward(self, x):
        return self.conv(x).mean(dim=(2, 3)).softmax(dim=1)
''', "GAPHead returns probabilities"),
    # the weights of the Linear layer, without its biases
    "fc_head_params": ('''
def fc_head_params(channels, height, width, num_classes):
    return channels * height * width * num_classes
''', "This counts the weights only"),
    # the weights of the 1x1 convolution, without its biases
    "gap_head_params": ('''
def gap_head_params(channels, num_classes):
    return channels * num_classes
''', "the 1x1 convolution also has one bias per class"),
}
