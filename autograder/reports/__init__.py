"""Reports: what a graded course gives back (grades.csv, per-student feedback, the class report,
Gradescope results), read from nbgrader's gradebook and the grading records.

Imports no torch and nothing of kernel hosting.
"""
