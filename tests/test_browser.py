"""The course in a real browser: JupyterLab driven through Debian's Chromium by Playwright
(issue #14, "tested in a real browser").

- The student's path through lesson 02: open it from the file browser (no "Jupyter news"
  pop-up), press Validate on the untouched notebook (it fails and names the exercises), run the
  set-up cell, type an Excitation that ends in a softmax and run its visible check (the hint is on
  the page), answer the other exercises and press Validate (it fails on that exercise only, with
  the hint), fix the answer and run the check again (a ✓ per family), run ``check_all()`` (the
  table, every check passed), press Validate (success).
- The instructor's path: after ``python -m autograder grade`` on a course with two submissions,
  formgrader lists the assignment and shows a graded submission's scores; the feedback HTML opens
  and shows the hint and no hidden test.

Every step's screenshot goes to ``test-artifacts/browser/`` (git-ignored; CI keeps the folder).
JupyterLab is started by the test on a free loopback port with a token, with the course's lab
settings (``jupyter/lab-settings``, as ``make lab``). Chromium is Debian's (``apt-get install
chromium``): Playwright's own browser download is never used. Without Chromium these tests are
skipped with that message, except where ``COURSE_BROWSER_TESTS=required`` (``.ci/run`` sets it):
there they fail.
"""
from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import pytest

from autograder._env import tool_env
from autograder.demo.students import EXCITATION_SOFTMAX
from autograder.exercises import get
from autograder.nbgrader.cells import grade_id, nbgrader_meta
from autograder.nbgrader.course import Course
from autograder.nbgrader.release import ROOT

ARTIFACTS = ROOT / "test-artifacts" / "browser"
LAB_SETTINGS = ROOT / "jupyter" / "lab-settings"
AID = "02_channel_se"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
REQUIRED = os.environ.get("COURSE_BROWSER_TESTS") == "required"

SOFTMAX_HINT = "a softmax instead of a sigmoid"


def _missing() -> str | None:
    if CHROMIUM is None:
        return ("Chromium is not installed, so the browser tests cannot run: install it with "
                "`apt-get install chromium` (Debian/Ubuntu; Playwright's own browser download is "
                "not used)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed: `make setup` installs it (a test dependency)"
    return None


MISSING = _missing()
if MISSING and not REQUIRED:
    pytestmark = pytest.mark.skip(reason=MISSING)


@pytest.fixture(scope="module")
def browser():
    if MISSING:
        pytest.fail(f"COURSE_BROWSER_TESTS=required, but: {MISSING}")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        # root (as in CI) needs --no-sandbox; Playwright's bundled browser is not installed here
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    """JupyterLab started from ``cwd`` on ``root_dir``, on a free port with a fresh token."""

    def __init__(self, cwd: Path, root_dir: Path, scratch: Path):
        self.port = _free_port()
        self.token = secrets.token_hex(16)
        self.log = scratch / f"lab-{self.port}.log"
        args = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip", "127.0.0.1",
                "--port", str(self.port), f"--IdentityProvider.token={self.token}",
                "--allow-root", f"--ServerApp.root_dir={root_dir}",
                # the course's settings, as `make lab` gives them
                f"--LabApp.app_settings_dir={LAB_SETTINGS}",
                # a fresh user: no settings or open tabs from earlier runs
                f"--LabApp.user_settings_dir={scratch / 'user-settings'}",
                f"--LabApp.workspaces_dir={scratch / 'workspaces'}",
                # window.jupyterapp: the test sets cell text and runs commands through it
                "--LabApp.expose_app_in_browser=True"]
        env = tool_env(JUPYTER_PLATFORM_DIRS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        self.proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=self.log.open("w"),
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 180
        while True:
            try:
                urllib.request.urlopen(f"{self.url}/api/status?token={self.token}", timeout=5)
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"JupyterLab did not start:\n{self.log.read_text()[-3000:]}")
                time.sleep(0.5)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def page_url(self, path: str) -> str:
        return f"{self.url}{path}?token={self.token}"

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def shot(page, name: str, **kwargs) -> Path:
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), **kwargs)
    return path


def notebook_shot(page, name: str) -> Path:
    """The notebook area alone (the README's screenshots are these, copied into docs/)."""
    path = ARTIFACTS / f"{name}.png"
    page.locator(".jp-NotebookPanel:visible").screenshot(path=str(path))
    return path


# --- the notebook, through window.jupyterapp ---------------------------------------------------

_FIND = """(gid) => {
    const nb = window.jupyterapp.shell.currentWidget.content;
    const i = nb.widgets.findIndex(c => (c.model.getMetadata('nbgrader') || {}).grade_id === gid);
    if (i < 0) { throw new Error('no cell with grade_id ' + gid); }
    return i;
}"""


def run_cell(page, gid: str, timeout: float = 120) -> str:
    """Run the cell with this grade_id as a student would (select it, Run) and return the text of
    its outputs."""
    page.evaluate(f"""async (gid) => {{
        const nb = window.jupyterapp.shell.currentWidget.content;
        const i = ({_FIND})(gid);
        nb.activeCellIndex = i;
        nb.mode = 'command';
        await window.jupyterapp.commands.execute('notebook:run-cell');
    }}""", gid)
    page.wait_for_function(f"""(gid) => {{
        const w = window.jupyterapp.shell.currentWidget;
        const cell = w.content.widgets[({_FIND})(gid)];
        return cell.model.executionCount !== null && w.sessionContext.session.kernel.status === 'idle';
    }}""", arg=gid, timeout=timeout * 1000)
    return output_of(page, gid)


def flat(text: str) -> str:
    """Text with its line breaks and runs of spaces made single spaces (checks wrap hints)."""
    return " ".join(text.split())


def output_of(page, gid: str) -> str:
    return page.evaluate(f"""(gid) => {{
        const nb = window.jupyterapp.shell.currentWidget.content;
        return nb.widgets[({_FIND})(gid)].outputArea.node.innerText;
    }}""", gid)


def set_source(page, gid: str, text: str) -> None:
    page.evaluate(f"""([gid, text]) => {{
        const nb = window.jupyterapp.shell.currentWidget.content;
        nb.widgets[({_FIND})(gid)].model.sharedModel.setSource(text);
    }}""", [gid, text])


def scroll_to(page, gid: str) -> None:
    page.evaluate(f"""async (gid) => {{
        const nb = window.jupyterapp.shell.currentWidget.content;
        const i = ({_FIND})(gid);
        nb.activeCellIndex = i;
        await nb.scrollToItem(i, 'start');
    }}""", gid)
    page.wait_for_timeout(500)


def validate(page, name: str, timeout: float = 240) -> tuple[str, str]:
    """Press the toolbar's Validate button; ``(verdict class, dialog text)``, then close it."""
    page.get_by_role("toolbar", name="main area toolbar").get_by_text("Validate",
                                                                        exact=True).click()
    message = page.locator("#validation-message")
    message.wait_for(timeout=timeout * 1000)
    shot(page, name)
    verdict = message.get_attribute("class") or ""
    text = flat(page.locator(".jp-Dialog-content").inner_text())
    page.locator(".jp-Dialog").get_by_role("button", name="Ok").click()
    page.locator(".jp-Dialog").wait_for(state="detached")
    return verdict, text


def solution_answers() -> dict[str, str]:
    nb = nbformat.read(ROOT / "solutions" / AID / f"{AID}.ipynb", 4)
    return {grade_id(c): c.source for c in nb.cells if nbgrader_meta(c).get("solution")}


#: lesson 02's exercises, in order, and the checks of all of them
EXERCISE_IDS = list(solution_answers())
CHECKS = sum(len(get(e).families) for e in EXERCISE_IDS)


# --- the student ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def student_lab(tmp_path_factory):
    """``make lab``'s set-up on a copy of the release: the course folder holds
    ``nbgrader_config.py`` and ``notebooks/``, and JupyterLab serves ``notebooks/``."""
    base = tmp_path_factory.mktemp("student")
    course = base / "course"
    shutil.copytree(ROOT / "notebooks", course / "notebooks")
    shutil.copy(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    lab = Lab(course, course / "notebooks", base)
    yield lab
    lab.stop()


def test_make_lab_uses_the_course_settings():
    """The settings the browser tests run with are the ones `make lab` gives a student."""
    recipe = (ROOT / "Makefile").read_text().split("\nlab:", 1)[1].split("\n\n", 1)[0]
    assert "--LabApp.app_settings_dir=$(CURDIR)/jupyter/lab-settings" in recipe, recipe
    assert (LAB_SETTINGS / "overrides.json").exists()


def test_student_path_in_lesson_02(browser, student_lab):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    answers = solution_answers()
    try:
        # 1. open lesson 02 from the file browser
        page.goto(student_lab.page_url("/lab"))
        page.locator(".jp-DirListing-item", has_text=AID).first.dblclick()
        page.locator(".jp-DirListing-item", has_text=f"{AID}.ipynb").dblclick()
        page.wait_for_function("""() => {
            const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
            const k = w && w.sessionContext && w.sessionContext.session
                && w.sessionContext.session.kernel;
            return k && k.connectionStatus === 'connected' && k.status === 'idle';
        }""", timeout=120_000)
        page.wait_for_timeout(3000)   # JupyterLab asks about news a moment after it starts
        shot(page, "student-01-lesson-02-open")
        assert page.get_by_text("official Jupyter news").count() == 0, \
            "the 'Jupyter news' pop-up shows: the course's lab settings were not applied"

        # Validate on the notebook as handed out: fails, naming the exercises and why
        verdict, text = validate(page, "student-02-validate-unanswered")
        assert "validation-failed" in verdict, text
        for exercise in EXERCISE_IDS:
            name = get(exercise).name
            assert f'check("{exercise}", "values", {name})' in text, text
            assert f"{name} is not implemented yet" in text, text
        assert "Success" not in text

        # 2. the set-up cell
        run_cell(page, "setup")
        scroll_to(page, "setup")
        shot(page, "student-03-setup-ran")

        # 3. a wrong Excitation (softmax) and its visible check: the hint is on the page
        set_source(page, "excitation", EXCITATION_SOFTMAX)
        run_cell(page, "excitation")
        out = run_cell(page, "excitation_check")
        scroll_to(page, "excitation")
        shot(page, "student-04-softmax-hint")
        notebook_shot(page, "student-04-softmax-hint-notebook")
        assert SOFTMAX_HINT in flat(out), out
        assert "\u2717 values" in out and "\u2713 shape" in out, out
        assert page.locator(".jp-OutputArea-output", has_text=SOFTMAX_HINT).count() == 1

        # the other exercises answered: Validate fails on Excitation only, with the hint
        for gid in EXERCISE_IDS:
            if gid != "excitation":
                set_source(page, gid, answers[gid])
        verdict, text = validate(page, "student-05-validate-wrong")
        assert "validation-failed" in verdict, text
        assert SOFTMAX_HINT in text, text
        failed = re.findall(r'check\("(\w+)", "(\w+)"', text)
        assert failed and {ex for ex, _ in failed} == {"excitation"}, failed

        # 4. fixed: the visible check shows a ✓ per family
        set_source(page, "excitation", answers["excitation"])
        run_cell(page, "excitation")
        out = run_cell(page, "excitation_check")
        scroll_to(page, "excitation_check")
        shot(page, "student-06-fixed")
        for family in ("shape", "values", "gradient", "device"):
            assert f"\u2713 {family}" in out, out
        assert "\u2717" not in out, out

        # 5. check_all(): the lesson's table from the kernel's state (the answers' cells run)
        for gid in EXERCISE_IDS:
            if gid != "excitation":
                run_cell(page, gid)
        out = run_cell(page, "check_all")
        scroll_to(page, "check_all")
        shot(page, "student-07-check-all")
        notebook_shot(page, "student-07-check-all-notebook")
        assert re.search(r"excitation\s+pass\s+pass\s+pass\s+pass", out), out
        assert re.search(r"cse_params\s+-\s+pass", out), out
        assert f"{CHECKS} of {CHECKS} checks passed" in out, out

        # 6. Validate: success
        verdict, text = validate(page, "student-08-validate-success")
        assert "validation-success" in verdict, text
        assert "Success" in text, text
    finally:
        shot(page, "student-99-last")
        page.close()


# --- the instructor ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def graded_course(tmp_path_factory):
    """A course with lesson 02 released and two submissions (correct; a softmax Excitation),
    graded by `python -m autograder grade`."""
    base = tmp_path_factory.mktemp("instructor")
    course = Course.scratch(base / "course", [AID])
    answers = solution_answers()
    release = nbformat.read(course.release_notebook(AID), 4)
    for student, replace in (("ada", {}), ("bob", {"excitation": EXCITATION_SOFTMAX})):
        nb = nbformat.from_dict(nbformat.reads(nbformat.writes(release), 4))
        for cell in nb.cells:
            if nbgrader_meta(cell).get("solution"):
                cell.source = replace.get(grade_id(cell), answers[grade_id(cell)])
        course.submit(student, AID, nb)
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", AID, "--jobs", "1",
                           "--no-progress"], cwd=course.root, capture_output=True, text=True,
                          env=tool_env(OMP_NUM_THREADS="1"), timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lab = Lab(course.root, course.root, base)
    yield course, lab
    lab.stop()


def test_instructor_path_formgrader_and_feedback(browser, graded_course):
    course, lab = graded_course
    scores = course.scores(AID, "bob")
    lost = {gid for gid, (score, top) in scores.items() if score != top}
    assert lost and all(gid.startswith("excitation_") for gid in lost), scores
    bob_total = sum(score for score, _ in scores.values())
    top = sum(t for _, t in scores.values())
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        # formgrader lists the assignment
        page.goto(lab.page_url("/formgrader/manage_assignments"))
        page.locator("td", has_text=AID).first.wait_for(timeout=60_000)
        shot(page, "instructor-01-formgrader-assignments")

        # ... and the graded submissions' scores
        page.goto(lab.page_url(f"/formgrader/gradebook/{AID}/{AID}"))
        row = page.locator("tr", has_text="bob")
        row.first.wait_for(timeout=60_000)
        shot(page, "instructor-02-formgrader-scores")
        row_text = row.first.inner_text()
        assert f"{bob_total:g} / {top:g}" in row_text, row_text

        # ... and one graded submission, cell by cell
        with course.gradebook() as gb:
            sub_id = gb.find_submission_notebook(AID, AID, "bob").id
        page.goto(lab.page_url(f"/formgrader/submissions/{sub_id}"))
        page.get_by_text(SOFTMAX_HINT).first.wait_for(timeout=60_000)
        shot(page, "instructor-03-formgrader-submission", full_page=False)

        # the feedback opens, shows the hint, and no hidden test
        feedback = course.root / "feedback" / "bob" / AID / f"{AID}.html"
        page.goto(feedback.as_uri())
        shot(page, "instructor-04-feedback", full_page=True)
        text = flat(page.locator("body").inner_text())
        assert SOFTMAX_HINT in text, text[:3000]
        assert "check(" not in text and "HIDDEN TESTS" not in text, text[:3000]
    finally:
        page.close()
