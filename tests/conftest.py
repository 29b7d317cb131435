"""Test-wide settings.

The course's heavy notebook cells (lesson 05's training, lesson 06's benchmarks) run a small
version in the tests (``coursekit.quick_mode``); ``bench/bench_notebooks.py`` times the full ones.
Kernels started by the tests inherit this environment.
"""
import os

os.environ.setdefault("SCSE_COURSE_QUICK", "1")
