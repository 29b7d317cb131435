"""nbgrader configuration of the course (read by every `nbgrader` command run in this folder).

The instructor source lives in `solutions/`, the student release in `notebooks/`.
"""
c = get_config()  # noqa: F821  (provided by nbgrader when it loads this file)

c.CourseDirectory.course_id = "scse-course"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"

# Grading: `nbgrader autograde` runs through the course's grader (autograder.nbgrader.grader). By default
# it is isolated: the student's code runs in a sandboxed kernel and every check runs outside it,
# so no submission can change how it is judged. AUTOGRADER_MODE=in-kernel runs the test cells in
# the student's kernel (nbgrader's way, with time limits and crash recovery); AUTOGRADER_MODE=nbgrader
# leaves nbgrader's own executor in place.
# In both modes every kernel runs in the OS sandbox (bubblewrap); where it cannot be made, each
# submission is refused with the cause and the fix. AUTOGRADER_SANDBOX=none (or
# --GradingExecute.sandbox=none) grades without it, and every record and feedback says so.
import os  # noqa: E402

_mode = os.environ.get("AUTOGRADER_MODE", "isolated")
if _mode != "nbgrader":
    from autograder.nbgrader.grader import configure  # noqa: E402

    configure(c, _mode, sandbox=os.environ.get("AUTOGRADER_SANDBOX", "bwrap"))
