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


# --- spreading the suite over processes (pytest-xdist, ``--dist loadgroup``) ---------------------
#
# A module-scoped fixture is built once in every worker process that runs one of its tests, and
# the heavy ones grade a whole class. So the tests that share one (with the same parameter) get a
# group and run on one worker (``make test``: ``--dist loadgroup``); a test that shares none goes
# wherever a worker is free. Independent
# heavy fixtures (one scratch course per lesson, one batch per grading mode) then build at the
# same time on different workers.

#: fixtures cached by hand across the tests of a module (not by pytest's scope), by parameter
_CACHED = {("test_lessons.py", "graded"): "aid"}


def _shared(item) -> list[str]:
    """The module-scoped fixtures (with their parameters) that ``item`` uses."""
    if not isinstance(item, pytest.Function) or item.path.parent.name != "tests":
        return []                                    # doctests: anywhere
    params = item.callspec.params if hasattr(item, "callspec") else {}
    shared = []
    for name in item.fixturenames:
        defs = item._fixtureinfo.name2fixturedefs.get(name)
        if (item.path.name, name) in _CACHED:
            shared.append(f"{name}={params.get(_CACHED[(item.path.name, name)])}")
        elif defs and defs[-1].scope in ("module", "package", "class"):
            shared.append(f"{name}={params[name]}" if name in params else name)
    return [f"{item.path.stem}:{key}" for key in shared]


def pytest_itemcollected(item):
    """Each test that shares a module fixture joins that fixture's group, marked as it is
    collected (before xdist reads the groups). Where a test shares several, the group is the
    first by name (tests/test_browser.py's "browser", tests/test_sandbox.py's "course")."""
    shared = sorted(_shared(item))
    if shared and item.get_closest_marker("xdist_group") is None:
        item.add_marker(pytest.mark.xdist_group(shared[0]))

