"""coursekit: what the lessons share that is not graded: synthetic data and plots.

The notebooks import these helpers instead of repeating plotting and data code in every cell.
Nothing here is downloaded: every image is generated from a seed.
"""

import os as _os


def quick_mode() -> bool:
    """Whether heavy cells (training runs, benchmarks) should run a small version.

    True while nbgrader grades or validates the notebook (``NBGRADER_EXECUTION`` is set: an
    instructor grading hundreds of notebooks must not pay for each student's training run), and
    when ``SCSE_COURSE_QUICK=1`` (the course's tests). A student running the notebook gets the
    full version.
    """
    return bool(_os.environ.get("NBGRADER_EXECUTION")) or \
        _os.environ.get("SCSE_COURSE_QUICK") == "1"
