"""nbgrader configuration of the course (read by every `nbgrader` command run in this folder).

The instructor source lives in `solutions/`, the student release in `notebooks/`.
"""
c = get_config()  # noqa: F821  (provided by nbgrader when it loads this file)

c.CourseDirectory.course_id = "scse-course"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"
