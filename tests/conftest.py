"""Test-wide settings.

The course's heavy notebook cells (lesson 05's training, lesson 06's benchmarks) run a small
version in the tests (``coursekit.quick_mode``); ``bench/bench_notebooks.py`` times the full ones.
Kernels started by the tests inherit this environment.
"""
import os

os.environ.setdefault("SCSE_COURSE_QUICK", "1")


import pytest  # noqa: E402
import torch  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    """The tests' tensors are tiny: one intra-op thread is faster than a pool, most of all on a
    busy machine (2 threads made the checks 10 to 20 times slower there)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
