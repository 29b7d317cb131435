"""One typical mistake per exercise of lesson 06: the wrong source of the whole solution cell, and
a substring of the hint the feedback must show (see tests/test_lessons.py)."""

ITEM_LEFT_IN = '''
class SmoothSpatialSE(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, 1, kernel_size=1)
        k = torch.tensor([1.0, 2.0, 1.0])
        self.register_buffer("kernel", (torch.outer(k, k) / 16).view(1, 1, 3, 3))
        self.last_gate_mean = None

    def gate(self, x):
        s = self.conv(x)
        ones = torch.ones_like(s[:1])
        smooth = F.conv2d(s, self.kernel, padding=1) / F.conv2d(ones, self.kernel, padding=1)
        g = torch.sigmoid(smooth)
        self.last_gate_mean = g.mean().item()           # the host round trip was kept
        return g

    def forward(self, x):
        return x * self.gate(x)
'''

GATE_PRODUCT = '''
class FusedSCSE(nn.Module):
    def __init__(self, channels, reduction=16):
        super().__init__()
        self.cse = ChannelSE(channels, reduction)
        self.sse = SpatialSE(channels)

    def forward(self, x):
        return x * self.cse.gate(x) * self.sse.gate(x)      # product of the gates, not their sum
'''

MISTAKES = {
    "smooth_sse": (ITEM_LEFT_IN, "moves data to the host"),
    "fused_scse": (GATE_PRODUCT, "The gates are multiplied"),
}
