"""The synthetic class of ``python -m autograder demo``: who hands in what, and what comes of it.

Data only: :mod:`autograder.demo` builds each notebook from the release notebook of the assignment,
with the answers of ``solutions/`` filled in (cells with ``solution: true``, by grade id), then
applies the student's changes below. An answer is the whole source of a solution cell. Every
answer names an exercise of the course's contract (``autograder.exercises``), so the demo follows
the lessons whatever their text; an assignment listed here that ``solutions/`` does not hold is
skipped, and a lesson folder this file does not list is still handed in by the students with
``ALL``.

``expect`` says what grading must give, per exercise: ``"full"`` (the default), ``"lost"`` (some
points lost) or ``"zero"``; ``{"*": "zero"}`` for the whole submission. tests/test_demo.py checks
it against nbgrader's gradebook.
"""
from __future__ import annotations

from dataclasses import dataclass, field

ALL = "*"   # every assignment in solutions/

#: the bad cases the demo must show, each by at least one submission
BAD_CASES = ("infinite-loop", "memory-exhaustion", "kernel-killed", "sleeps-forever",
             "test-cells-deleted", "test-cells-edited", "test-metadata-changed",
             "duplicated-grade-ids", "not-json", "not-a-notebook", "empty-file",
             "other-assignment")


@dataclass(frozen=True)
class Hand:
    """One submission.

    Attributes:
        kind: ``answered`` (the release with answers), ``unanswered`` (the release as handed
            out), ``not-json``, ``not-a-notebook``, ``empty-file``, ``other-assignment``.
        answers: grade id -> source of that solution cell, instead of the solution's.
        delete: grade ids of cells the student deleted.
        edit: grade id -> new source of a (test) cell.
        metadata: grade id -> changes to the cell's nbgrader metadata (``None``: removed).
        duplicate: grade ids of cells the student copied (the copy right after the cell).
        other: for ``other-assignment``, the assignment whose notebook is handed in instead
            (the previous one in course order when it is not there).
        case: the bad case this submission shows (one of :data:`BAD_CASES`), or ``""``.
        expect: exercise -> ``full`` / ``lost`` / ``zero``; ``"*"`` for every exercise.
    """

    kind: str = "answered"
    answers: dict = field(default_factory=dict)
    delete: tuple = ()
    edit: dict = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)
    duplicate: tuple = ()
    other: str = ""
    case: str = ""
    expect: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Student:
    name: str
    about: str
    hands: dict   # assignment id (or ALL) -> Hand


# --- answers with typical mistakes ---------------------------------------------------------------

GAP_MAX = '''def global_avg_pool(x):
    """Global average pooling: (N, C, *spatial) -> (N, C)."""
    return x.amax(dim=tuple(range(2, x.dim())))
'''

GAP_HEAD_SOFTMAX = '''class GAPHead(nn.Module):
    """A classifier head: one 1x1-conv map per class, averaged."""

    def __init__(self, channels, num_classes):
        super().__init__()
        self.conv = nn.Conv2d(channels, num_classes, kernel_size=1)

    def forward(self, x):
        return self.conv(x).mean(dim=(2, 3)).softmax(dim=1)
'''

HEAD_PARAMS_WEIGHTS_ONLY = '''def head_params(channels, height, width, num_classes, head):
    inputs = channels * height * width if head == "fc" else channels
    return inputs * num_classes
'''

REDUCED_WIDTH_FLOOR = '''def reduced_width(channels, reduction):
    return channels // reduction
'''

EXCITATION_SOFTMAX = '''class Excitation(nn.Module):
    def __init__(self, channels, reduction=16):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)

    def forward(self, z):
        return torch.softmax(self.fc2(torch.relu(self.fc1(z))), dim=1)
'''

CSE_PARAMS_WEIGHTS_ONLY = '''def cse_params(channels, reduction):
    hidden = max(1, channels // reduction)
    return 2 * channels * hidden
'''

SPATIAL_SE_MEAN = '''class SpatialSE(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, 1, kernel_size=1)

    def gate(self, x):
        return torch.sigmoid(x.mean(dim=1, keepdim=True))

    def forward(self, x):
        return x * self.gate(x)
'''

KEPT_MASK_GE = '''def kept_mask(gate, threshold=0.5):
    return gate >= threshold
'''

SCSE_MAX_OF_GATES = '''class SCSE(nn.Module):
    MODES = ("add", "max", "mul", "concat")

    def __init__(self, channels, reduction=16, mode="add"):
        super().__init__()
        if mode not in self.MODES:
            raise ValueError(f"unknown mode {mode!r}")
        self.mode = mode
        self.cse = ChannelSE(channels, reduction)
        self.sse = SpatialSE(channels)

    def forward(self, x):
        if self.mode == "max":
            return x * torch.maximum(self.cse.gate(x), self.sse.gate(x))
        xc, xs = self.cse(x), self.sse(x)
        if self.mode == "add":
            return xc + xs
        if self.mode == "mul":
            return xc * xs
        return torch.cat([xc, xs], dim=1)
'''

ECA_FIXED_KERNEL = '''class ECA(nn.Module):
    def __init__(self, channels, gamma=2, b=1):
        super().__init__()
        self.conv = nn.Conv1d(1, 1, 3, padding=1, bias=False)   # "3 is what everyone uses"

    def gate(self, x):
        n, c = x.shape[:2]
        z = x.mean(dim=(2, 3)).view(n, 1, c)
        return torch.sigmoid(self.conv(z)).view(n, c, 1, 1)

    def forward(self, x):
        return x * self.gate(x)
'''

CBAM_AVERAGE_ONLY = '''class CBAM(nn.Module):
    def __init__(self, channels, reduction=16, kernel_size=7):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2)

    def channel_gate(self, x):
        n, c = x.shape[:2]
        z = x.mean(dim=(2, 3))                  # the average only: the max branch is missing
        return torch.sigmoid(self.fc2(torch.relu(self.fc1(z)))).view(n, c, 1, 1)

    def spatial_gate(self, x):
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return torch.sigmoid(self.conv(pooled))

    def forward(self, x):
        x = x * self.channel_gate(x)
        return x * self.spatial_gate(x)
'''

CHANNEL_SE_FROM_REFERENCE = '''# the course's own implementation is right there...
from scse_ref import ChannelSE
'''

# --- answers that break the grading kernel -------------------------------------------------------

GAP_INFINITE_LOOP = '''def global_avg_pool(x):
    # average the last dim away until (N, C) is left
    while x.dim() > 2:
        x = x.mean(dim=-1) if x.dim() in (3, 4) else x   # a 5-D input never shrinks: loops forever
    return x
'''

CHANNEL_SE_MEMORY_BOMB = '''class ChannelSE(nn.Module):
    def __init__(self, channels, reduction=16):
        super().__init__()
        self.excitation = Excitation(channels, reduction)

    def gate(self, x):
        n, c = x.shape[:2]
        # "precompute a cache" that grows until memory runs out
        cache = [torch.ones(2 ** 26) for _ in range(10 ** 3)]
        return self.excitation(global_avg_pool(x)).view(n, c, 1, 1)

    def forward(self, x):
        return x * self.gate(x)
'''

KEPT_MASK_OS_EXIT = '''def kept_mask(gate, threshold=0.5):
    return gate > threshold

import os
os._exit(0)   # "restart the kernel to free memory"
'''

CBAM_SLEEPS = '''import time
time.sleep(10 ** 9)   # waiting for a download that never comes


class CBAM(nn.Module):
    def __init__(self, channels, reduction=16, kernel_size=7):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2)
'''

NOT_JSON = '''# I wrote my answers in a Python file and renamed it
def global_avg_pool(x):
    return x.mean(dim=(2, 3))
'''

NOT_A_NOTEBOOK = '{"answers": {"reduced_width": "max(1, channels // reduction)"}}\n'

EDITED_TEST = 'print("all tests passed")   # the student replaced the hidden test\n'

# --- the class -----------------------------------------------------------------------------------

L1, L2, L3, L4 = ("01_global_average_pooling", "02_channel_se", "03_spatial_se", "04_scse")

STUDENTS: list[Student] = [
    Student("ada_perfect", "every lesson, every answer right", {ALL: Hand()}),
    Student("ben_mistakes", "one typical mistake per lesson", {
        L1: Hand(answers={"global_avg_pool": GAP_MAX}, expect={"global_avg_pool": "lost"}),
        L2: Hand(answers={"excitation": EXCITATION_SOFTMAX}, expect={"excitation": "lost"}),
        L3: Hand(answers={"spatial_se": SPATIAL_SE_MEAN}, expect={"spatial_se": "lost"}),
        L4: Hand(answers={"scse": SCSE_MAX_OF_GATES}, expect={"scse": "lost"}),
    }),
    Student("cleo_mistakes", "other typical mistakes, one to three per lesson", {
        L1: Hand(answers={"gap_head": GAP_HEAD_SOFTMAX, "head_params": HEAD_PARAMS_WEIGHTS_ONLY},
                 expect={"gap_head": "lost", "head_params": "zero"}),
        L2: Hand(answers={"reduced_width": REDUCED_WIDTH_FLOOR,
                          "cse_params": CSE_PARAMS_WEIGHTS_ONLY, "eca": ECA_FIXED_KERNEL},
                 expect={"reduced_width": "zero", "cse_params": "zero", "eca": "lost"}),
        L3: Hand(answers={"kept_mask": KEPT_MASK_GE}, expect={"kept_mask": "lost"}),
        L4: Hand(answers={"cbam": CBAM_AVERAGE_ONLY}, expect={"cbam": "lost"}),
    }),
    Student("dev_unanswered", "handed in the release as it was", {
        L2: Hand(kind="unanswered", expect={ALL: "zero"}),
    }),
    Student("eve_reference", "imports the course's reference instead of writing ChannelSE", {
        L2: Hand(answers={"channel_se": CHANNEL_SE_FROM_REFERENCE},
                 expect={"channel_se": "zero"}),
    }),
    # --- the bad cases: each loses the part it breaks, and nothing else -----------------------
    Student("fay_infinite_loop", "global_avg_pool loops forever on 3-D maps", {
        L1: Hand(answers={"global_avg_pool": GAP_INFINITE_LOOP}, case="infinite-loop",
                 expect={"global_avg_pool": "zero"}),
    }),
    Student("gus_memory_bomb", "ChannelSE allocates until memory runs out", {
        L2: Hand(answers={"channel_se": CHANNEL_SE_MEMORY_BOMB}, case="memory-exhaustion",
                 expect={"channel_se": "zero"}),
    }),
    Student("hal_os_exit", "the kept_mask cell ends with os._exit(0)", {
        L3: Hand(answers={"kept_mask": KEPT_MASK_OS_EXIT}, case="kernel-killed",
                 expect={"kept_mask": "zero"}),
    }),
    Student("ivy_sleeps", "the cbam cell sleeps forever", {
        L4: Hand(answers={"cbam": CBAM_SLEEPS}, case="sleeps-forever",
                 expect={"cbam": "zero"}),
    }),
    Student("jay_deleted_tests", "deleted the test cells of gap_head", {
        L1: Hand(delete=("gap_head_check", "gap_head_shape", "gap_head_values",
                         "gap_head_gradient", "gap_head_device"), case="test-cells-deleted"),
    }),
    Student("kim_edited_tests", "a softmax in Excitation, and its hidden tests replaced", {
        L2: Hand(answers={"excitation": EXCITATION_SOFTMAX},
                 edit={"excitation_values": EDITED_TEST, "excitation_gradient": EDITED_TEST},
                 case="test-cells-edited", expect={"excitation": "lost"}),
    }),
    Student("lou_changed_metadata", "a wrong SpatialSE, its test cells' metadata changed", {
        L3: Hand(answers={"spatial_se": SPATIAL_SE_MEAN},
                 metadata={"spatial_se_values": {"points": 0, "grade": False},
                           "spatial_se_gradient": None},
                 case="test-metadata-changed", expect={"spatial_se": "lost"}),
    }),
    Student("max_duplicates", "copied the scse cell and a test cell (same grade ids)", {
        L4: Hand(duplicate=("scse", "scse_values"), case="duplicated-grade-ids"),
    }),
    Student("ned_not_json", "handed in a Python file named .ipynb", {
        L1: Hand(kind="not-json", case="not-json", expect={ALL: "zero"}),
    }),
    Student("ola_not_notebook", "handed in JSON that is not a notebook", {
        L2: Hand(kind="not-a-notebook", case="not-a-notebook", expect={ALL: "zero"}),
    }),
    Student("pia_empty", "handed in an empty file", {
        L3: Hand(kind="empty-file", case="empty-file", expect={ALL: "zero"}),
    }),
    Student("quinn_wrong_lesson", "handed in lesson 03's notebook for lesson 04", {
        L4: Hand(kind="other-assignment", other=L3, case="other-assignment",
                 expect={ALL: "zero"}),
    }),
]
