"""One typical mistake per exercise of lesson 05: the wrong source of the whole solution cell, and
a substring of the hint the feedback must show (see tests/test_lessons.py)."""

SE_POST = '''
class SEBottleneck(nn.Module):
    def __init__(self, in_channels, planes, stride=1, reduction=16):
        super().__init__()
        out_channels = 4 * planes
        self.conv1 = nn.Conv2d(in_channels, planes, 1)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1)
        self.conv3 = nn.Conv2d(planes, out_channels, 1)
        self.se = ChannelSE(out_channels, reduction)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Conv2d(in_channels, out_channels, 1, stride=stride)

    def forward(self, x):
        out = F.relu(self.conv1(x))
        out = F.relu(self.conv2(out))
        out = self.conv3(out)
        identity = x if self.downsample is None else self.downsample(x)
        return self.se(F.relu(out + identity))      # SE after the addition: SE-POST
'''

PRE_OUTPUT_WIDTH = '''
def se_width(in_channels, planes, placement):
    return 4 * planes                               # SE-PRE sees the input, not the output
'''

BEFORE_RELU = '''
class AttentionBlock(ConvBlock):
    def __init__(self, in_channels, out_channels, attention="none", reduction=2):
        super().__init__(in_channels, out_channels)
        units = {"none": nn.Identity, "cse": lambda: ChannelSE(out_channels, reduction),
                 "sse": lambda: SpatialSE(out_channels),
                 "scse": lambda: SCSE(out_channels, reduction)}
        self.attention = units[attention]()

    def forward(self, x):
        x = F.relu(self.norm1(self.conv1(x)))
        return F.relu(self.attention(self.norm2(self.conv2(x))))    # attention before the ReLU
'''

MISTAKES = {
    "se_bottleneck": (SE_POST, "SE-POST"),
    "se_width": (PRE_OUTPUT_WIDTH, "in_channels channels"),
    "attention_block": (BEFORE_RELU, "before the block's last ReLU"),
}
