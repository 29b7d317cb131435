"""The student's side of the checks (issue #14): visible checks that teach, ``check_all``,
Validate, and the release notebooks' test cells.

- The visible check (``check(id, "basic", X)``) runs every family on the public seed: the three
  wrong answers the issue names (an Excitation ending in a softmax, a kept_mask with ``>=``, an
  a head-parameter count without biases, lesson 01's ``head_params``), each passed by the old shapes-only check, now get their hint;
  a correct answer gets a ✓ per family; a failure raises CheckFailed (the cell turns red).
- While nbgrader validates or grades (``NBGRADER_EXECUTION``), the visible check and check_all
  step aside; graded families never do.
- ``check_all`` prints the lesson's table from the caller's namespace, and
  ``python -m autograder check`` prints the same table from a file.
- ``nbgrader validate`` on lesson 02: the release as handed out fails and names every exercise;
  one wrong answer fails on that exercise only, with its hint; the answered release passes
  (``tests/test_lessons.py`` checks that for every lesson).
- Every release notebook: per exercise one visible check, graded cells folded away in
  JupyterLab and holding a real ``check`` call, ``check_all`` last, listing every exercise.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys

import nbformat
import pytest
import torch
from torch import nn

import scse_ref
from autograder import CheckFailed, check, check_all, run_check
from autograder.demo import students as demo
from autograder.exercises import EXERCISES, get
from autograder.judge.context import PUBLIC_SEED
from autograder.nbgrader.cells import check_calls, grade_id, nbgrader_meta
from autograder.nbgrader.release import ROOT, assignments
from autograder._env import tool_env

ASSIGNMENTS = assignments()


def _defined(source: str, name: str):
    namespace: dict = {}
    exec("import torch\nfrom torch import nn\n" + source, namespace)
    return namespace[name]


SoftmaxExcitation = _defined(demo.EXCITATION_SOFTMAX, "Excitation")


def flat(text: str) -> str:
    return " ".join(text.split())


# --- the visible check ----------------------------------------------------------------------------


@pytest.mark.parametrize("exercise, answer, family, hint", [
    ("excitation", "EXCITATION_SOFTMAX", "values", "a softmax instead of a sigmoid"),
    ("kept_mask", "KEPT_MASK_GE", "values", "use a strict comparison, gate > threshold"),
    ("head_params", "HEAD_PARAMS_WEIGHTS_ONLY", "values",
     "This counts the weights only: both heads also have one bias per class"),
], ids=["softmax-excitation", "kept-mask-ge", "head-params-without-biases"])
def test_the_named_wrong_answers_get_their_hint_from_the_visible_check(exercise, answer, family,
                                                                       hint, capsys):
    answer = _defined(getattr(demo, answer), get(exercise).name)
    with pytest.raises(CheckFailed) as failed:
        check(exercise, "basic", answer)
    text = str(failed.value)
    assert f"\u2717 {family}" in text, text
    assert hint in flat(text), text
    assert capsys.readouterr().out == "", "a failed visible check prints its verdict in the error"


def test_a_correct_answer_gets_a_tick_per_family(capsys):
    check("excitation", "basic", scse_ref.Excitation)
    out = capsys.readouterr().out
    assert out.startswith("\u2713 Excitation passes its 4 checks on the public inputs"), out
    for family in ("shape", "values", "gradient", "device"):
        assert re.search(rf"^  \u2713 {family} ", out, re.M), out
    assert "\u2717" not in out


def test_a_counting_exercise_gets_a_visible_check_on_a_public_case(capsys):
    check("cse_params", "basic", lambda c, r: scse_ref.reduced_channels(c, r) * 2 * c + c
          + scse_ref.reduced_channels(c, r))
    out = capsys.readouterr().out
    assert "\u2713 cse_params passes its check" in out and "\u2713 values" in out, out


def test_the_visible_check_runs_every_family_of_the_exercise():
    for exercise in EXERCISES.values():
        outcome = run_check(exercise.id, "basic", lambda *a, **k: None)
        assert [o.family for o in outcome.details["families"]] == list(exercise.families), \
            exercise.id


def test_the_visible_check_draws_from_the_public_seed():
    """Every run, every student: the same inputs; another seed, other inputs."""
    seen: list[torch.Tensor] = []

    class Recording(scse_ref.Excitation):
        def forward(self, z):
            seen.append(z.detach().clone())
            return super().forward(z)

    def inputs(**seed):
        seen.clear()
        assert run_check("excitation", "basic", Recording, **seed).passed
        return [t.double() for t in seen if t.device.type == "cpu"]

    first, again = inputs(), inputs()
    public, other = inputs(seed=PUBLIC_SEED), inputs(seed=PUBLIC_SEED + 1)
    assert len(first) > 10
    assert all(torch.equal(a, b) for a, b in zip(first, again)) and len(first) == len(again)
    assert all(torch.equal(a, b) for a, b in zip(first, public))
    assert not all(a.shape == b.shape and torch.equal(a, b) for a, b in zip(first, other))


def test_an_unanswered_exercise_says_so_once():
    class ChannelSE(nn.Module):
        def __init__(self, channels, reduction=16):
            super().__init__()
            raise NotImplementedError()

    with pytest.raises(CheckFailed) as failed:
        check("channel_se", "basic", ChannelSE)
    text = str(failed.value)
    assert text.count("not implemented yet") == 1, text
    assert "fails all its 4 checks" in text, text


def test_checks_step_aside_only_where_graded_cells_judge(monkeypatch, capsys):
    """Under nbgrader (validate, autograde) the graded cells run every family: the visible
    check and check_all only print a note, and never fail; a graded family still fails."""
    monkeypatch.setenv("NBGRADER_EXECUTION", "validate")
    check("excitation", "basic", SoftmaxExcitation)
    check_all("excitation", namespace={"Excitation": SoftmaxExcitation})
    out = capsys.readouterr().out
    assert out.count("not run while nbgrader validates") == 2, out
    with pytest.raises(CheckFailed, match="softmax instead of a sigmoid"):
        check("excitation", "values", SoftmaxExcitation)


# --- check_all and the self-check table -----------------------------------------------------------


def test_check_all_tables_what_the_calling_notebook_holds(capsys):
    namespace = {"check_all": check_all, "__name__": "__main__",
                 "Excitation": scse_ref.Excitation,
                 "cse_params": lambda c, r: 2 * c * max(1, c // r)}
    exec('check_all("excitation", "channel_se", "cse_params")', namespace)
    out = capsys.readouterr().out
    assert re.search(r"^excitation\s+pass\s+pass\s+pass\s+pass\(sim\)$", out, re.M), out
    assert re.search(r"^channel_se\s+FAIL\s+FAIL\s+FAIL\s+FAIL$", out, re.M), out
    assert re.search(r"^cse_params\s+-\s+FAIL\s+-\s+-$", out, re.M), out
    assert "channel_se / shape, values, gradient, device:" in out, out
    assert "ChannelSE is not defined" in flat(out), out
    assert "This counts the weights only" in flat(out), out
    assert "4 of 9 checks passed" in out, out


def test_check_all_without_ids_checks_what_the_notebook_defines_itself(capsys):
    """Lesson 04 imports the reference's ChannelSE: that is not an answer to check."""
    namespace = {"check_all": check_all, "__name__": "__main__", "scse_ref": scse_ref,
                 "ChannelSE": scse_ref.ChannelSE}
    exec("class Excitation(scse_ref.Excitation):\n    pass\n\ncheck_all()", namespace)
    out = capsys.readouterr().out
    assert re.search(r"^excitation\s+pass", out, re.M), out
    assert "channel_se" not in out, out


def test_the_self_check_command_prints_the_same_table(tmp_path):
    solution = nbformat.read(ROOT / "solutions" / "02_channel_se" / "02_channel_se.ipynb", 4)
    release = nbformat.read(ROOT / "notebooks" / "02_channel_se" / "02_channel_se.ipynb", 4)
    answers = {grade_id(c): c.source for c in solution.cells if nbgrader_meta(c).get("solution")}
    answers["cse_params"] = demo_cse_weights_only()
    for cell in release.cells:
        if nbgrader_meta(cell).get("solution"):
            cell.source = answers[grade_id(cell)]
    path = tmp_path / "02_channel_se.ipynb"
    nbformat.write(release, path)
    proc = subprocess.run([sys.executable, "-m", "autograder", "check", str(path), "--seed", "3"],
                          capture_output=True, text=True, env=tool_env(), timeout=600)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert re.search(r"^cse_params\s+-\s+FAIL", proc.stdout, re.M), proc.stdout
    assert re.search(r"^channel_se\s+pass\s+pass\s+pass\s+pass\(sim\)$", proc.stdout, re.M)
    assert "This counts the weights only" in flat(proc.stdout), proc.stdout
    total = sum(len(get(grade_id(c)).families) for c in release.cells
                if nbgrader_meta(c).get("solution") and grade_id(c) in EXERCISES)
    assert f"{total - 1} of {total} checks passed" in proc.stdout, proc.stdout
    assert "error in a cell" not in proc.stdout, "check_all's cell should be skipped"


def demo_cse_weights_only() -> str:
    return ("def cse_params(channels, reduction):\n"
            "    hidden = max(1, channels // reduction)\n"
            "    return 2 * channels * hidden\n")


# --- nbgrader validate ------------------------------------------------------------------------------


def _validate(nb, tmp_path) -> str:
    path = tmp_path / "02_channel_se.ipynb"
    nbformat.write(nb, path)
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "validate", str(path)],
                          capture_output=True, text=True, env=tool_env(), cwd=tmp_path,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _release_with(answers: dict[str, str]):
    release = nbformat.read(ROOT / "notebooks" / "02_channel_se" / "02_channel_se.ipynb", 4)
    for cell in release.cells:
        if nbgrader_meta(cell).get("solution") and grade_id(cell) in answers:
            cell.source = answers[grade_id(cell)]
    return release


def _failed_cells(out: str) -> list[tuple[str, str]]:
    return re.findall(r'The following cell failed:\s+#[^\n]*\n\s+check\("(\w+)", "(\w+)"', out)


def test_validate_fails_an_unanswered_notebook_and_names_every_exercise(tmp_path):
    release = _release_with({})
    graded = [grade_id(c) for c in release.cells
              if nbgrader_meta(c).get("grade") and not nbgrader_meta(c).get("solution")]
    exercises = {grade_id(c) for c in release.cells if nbgrader_meta(c).get("solution")}
    out = _validate(release, tmp_path)
    assert f"VALIDATION FAILED ON {len(graded)} CELL(S)" in out, out
    failed = _failed_cells(out)
    assert {ex for ex, _ in failed} == exercises, out
    assert len(failed) == len(graded), failed
    assert "Excitation is not implemented yet" in flat(out), out
    assert "Success" not in out


def test_validate_fails_a_wrong_answer_on_its_exercise_with_the_hint(tmp_path):
    solution = nbformat.read(ROOT / "solutions" / "02_channel_se" / "02_channel_se.ipynb", 4)
    answers = {grade_id(c): c.source for c in solution.cells if nbgrader_meta(c).get("solution")}
    answers["excitation"] = demo.EXCITATION_SOFTMAX
    out = _validate(_release_with(answers), tmp_path)
    assert "VALIDATION FAILED" in out, out
    failed = _failed_cells(out)
    assert failed and {ex for ex, _ in failed} == {"excitation"}, out
    assert "a softmax instead of a sigmoid" in flat(out), out


# --- the release notebooks' test cells --------------------------------------------------------------


def _release(aid: str):
    return nbformat.read(ROOT / "notebooks" / aid / f"{aid}.ipynb", 4)


@pytest.mark.parametrize("aid", ASSIGNMENTS)
def test_release_shows_one_check_per_exercise_and_folds_the_graded_cells(aid):
    nb = _release(aid)
    exercises = [grade_id(c) for c in nb.cells if nbgrader_meta(c).get("solution")]
    visible: dict[str, int] = {}
    for cell in nb.cells:
        meta = nbgrader_meta(cell)
        hidden = cell.metadata.get("jupyter", {})
        if meta.get("grade"):
            calls = check_calls(cell.source)
            assert len(calls) == 1 and cell.source.strip().endswith(")"), cell.source
            assert calls[0].family in ("shape", "values", "gradient", "device")
            assert f"{calls[0].exercise}_{calls[0].family}" == grade_id(cell)
            assert "HIDDEN TESTS" not in cell.source
            assert hidden == {"source_hidden": True, "outputs_hidden": True}, grade_id(cell)
            continue
        assert not hidden, f"{grade_id(cell)}: only graded cells are folded away"
        for call in check_calls(cell.source):
            visible[call.exercise] = visible.get(call.exercise, 0) + 1
            assert call.family == "basic" and meta.get("locked")
    assert visible == {ex: 1 for ex in exercises}, visible
    last = nb.cells[-1]
    assert grade_id(last) == "check_all" and nbgrader_meta(last).get("locked")
    listed = re.findall(r'"(\w+)"', last.source.split("check_all(", 1)[1])
    assert listed == exercises, last.source


def test_release_graded_cells_are_what_the_gradebook_stores():
    """The source a student sees in a graded cell is its full source: nothing is hidden in it
    (the secret part of grading is the grader's seed and inputs)."""
    for aid in ASSIGNMENTS:
        solution = nbformat.read(ROOT / "solutions" / aid / f"{aid}.ipynb", 4)
        graded = {grade_id(c): c.source for c in solution.cells if nbgrader_meta(c).get("grade")}
        released = {grade_id(c): c.source for c in _release(aid).cells
                    if nbgrader_meta(c).get("grade")}
        assert released == graded, aid


@pytest.mark.parametrize("aid", ASSIGNMENTS)
def test_release_says_how_to_check_right_after_the_set_up(aid):
    cells = _release(aid).cells
    setup = next(i for i, c in enumerate(cells) if grade_id(c) == "setup")
    note = cells[setup + 1]
    assert note.cell_type == "markdown" and note.source.startswith("**How to check your work.**")
    assert "Validate" in note.source and "check_all" in note.source
    stale = [c.source for c in cells if c.cell_type == "markdown"
             and re.search(r"visible (test|check)", c.source, re.I)]
    assert not stale, stale


# --- grading: the visible checks and check_all cost nothing -----------------------------------------


@pytest.mark.parametrize("mode", ["isolated", "in-kernel"])
def test_grading_skips_the_visible_checks_and_check_all(mode, tmp_path, monkeypatch):
    """Graded cells judge; the visible checks and check_all only print a note (nothing the
    student sees in the feedback breaks: no error in a cell), in both grading modes."""
    from autograder.kernel.session import Limits
    from autograder.nbgrader.grader import grade_file

    # nbgrader sets this around autograde; the in-kernel grading kernel inherits it
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    solution = nbformat.read(ROOT / "solutions" / "02_channel_se" / "02_channel_se.ipynb", 4)
    answers = {grade_id(c): c.source for c in solution.cells if nbgrader_meta(c).get("solution")}
    answers["excitation"] = demo.EXCITATION_SOFTMAX
    nb = _release_with(answers)
    path = tmp_path / "02_channel_se.ipynb"
    nbformat.write(nb, path)
    report = grade_file(path, nb, mode=mode, limits=Limits(), seed=5, ahead=False)
    assert not report.errors, report.errors
    lost = {c.grade_id for c in report.cells if not c.passed}
    assert lost == {"excitation_values", "excitation_gradient"}, report.cells
    stepped_aside = [c for c in nb.cells if (grade_id(c) or "") == "check_all"
                     or (grade_id(c) or "").endswith("_check")]
    # one visible check per graded exercise of the lesson, and check_all
    from autograder.exercises import EXERCISES
    from autograder.nbgrader.cells import exercise_of
    exercises = {exercise_of(grade_id(c), EXERCISES) for c in nb.cells
                 if nbgrader_meta(c).get("grade") and not nbgrader_meta(c).get("solution")}
    assert len(stepped_aside) == len(exercises) + 1 >= 3, sorted(exercises)
    for cell in stepped_aside:
        text = "".join(o.get("text", "") for o in cell.outputs)
        assert "not run while nbgrader grades" in text, (grade_id(cell), cell.outputs)
        assert not [o for o in cell.outputs if o.get("output_type") == "error"], cell.outputs
