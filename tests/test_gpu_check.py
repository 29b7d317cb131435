"""``bench/gpu_check.py``, the kit for the few minutes a GPU is lent: its quick mode runs here.

No GPU here: ``--quick`` runs each part's CPU plumbing. The test runs it as the GPU machine
would (a fresh process, the repository on ``PYTHONPATH``), with Jupyter, nbgrader, nbformat and
IPython made unimportable (the GPU machine has none of them), and reads what it wrote. The report
writer is also fed a made-up GPU result, so that the parts that only CUDA fills (agreement,
disagreements with both messages, the bandwidth target) are checked here too.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ABSENT_ON_THE_GPU_MACHINE = ("nbformat", "nbgrader", "nbclient", "IPython", "ipykernel",
                             "jupyter_client", "jupyter_core", "jupyterlab", "notebook")


def _load_kit():
    spec = importlib.util.spec_from_file_location("_gpu_check", ROOT / "bench" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["_gpu_check"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    blocked = tmp_path_factory.mktemp("absent")
    for name in ABSENT_ON_THE_GPU_MACHINE:
        (blocked / f"{name}.py").write_text(
            f"raise ImportError('{name} is not on the GPU machine')\n")
    out = tmp_path_factory.mktemp("gpu-check")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(blocked), str(ROOT)]))
    env.pop("SCSE_COURSE_QUICK", None)
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu_check.py"), "--quick",
                           "--out", str(out)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=900)
    return proc, out


def test_quick_mode_writes_one_json_and_one_markdown_report(quick_run):
    proc, out = quick_run
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert sorted(p.name for p in out.iterdir()) == ["gpu_check.json", "gpu_check.md"]
    report = json.loads((out / "gpu_check.json").read_text())
    assert list(report["parts"]) == ["agreement", "correctness", "speed", "lesson06"]
    for name, part in report["parts"].items():
        assert part["status"] == "done", (name, part.get("log_tail"))


def test_without_cuda_the_report_says_no_gpu_run_was_made(quick_run):
    _, out = quick_run
    text = (out / "gpu_check.md").read_text()
    report = json.loads((out / "gpu_check.json").read_text())
    assert report["env"]["cuda_available"] is False
    assert "**No GPU run**" in text
    for name in ("agreement", "correctness", "speed"):
        assert report["parts"][name]["cuda_note"].startswith("no CUDA"), name
    assert "| no CUDA |" in text                       # the agreement table's CUDA column


def test_the_simulated_verdicts_cover_mutants_and_the_lesson_tests_implementations(quick_run):
    _, out = quick_run
    part = json.loads((out / "gpu_check.json").read_text())["parts"]["agreement"]
    rows = part["rows"]
    assert part["lesson_tests"]["failed"] == 0 and part["lesson_tests"]["passed"] > 20
    origins = {r["origin"] for r in rows}
    assert origins == {"mutant", "lesson test"}
    assert all("simulated" in r and "cuda" not in r for r in rows)
    # the false rejection: kept_iou by boolean-mask indexing passes the simulation
    (mask_index,) = [r for r in rows if r["id"] == "kept_iou/mask-index"]
    assert mask_index["simulated"]["passed"], mask_index["simulated"]["message"]
    correct = [r for r in rows if r["expected"] == "correct"]
    assert correct and all(r["simulated"]["passed"] for r in correct)
    device_bugs = [r for r in rows if (r["expected"] or "").startswith("wrong: first fails "
                                                                        "device")]
    assert device_bugs and not any(r["simulated"]["passed"] for r in device_bugs)


def test_correctness_compares_every_mode_with_float64(quick_run):
    _, out = quick_run
    part = json.loads((out / "gpu_check.json").read_text())["parts"]["correctness"]
    rows = part["rows"]
    assert {r["variant"] for r in rows} == {"add (fused)", "add (two-branch)", "max", "mul",
                                            "concat"}
    assert {r["dims"] for r in rows} == {1, 2}
    assert not [r for r in rows if "error" in r], [r["error"] for r in rows if "error" in r]
    float32 = [r for r in rows if r["precision"] == "float32"]
    # the CPU's float32 output is within float32's tolerance of float64, in every mode
    assert all(r["errors"]["output"] <= r["tolerances"]["output"] for r in float32)
    assert any(r["layout"] == "channels_last" and r["keeps_channels_last"] for r in rows)


def test_speed_and_lesson06_ran_their_cpu_paths(quick_run):
    _, out = quick_run
    parts = json.loads((out / "gpu_check.json").read_text())["parts"]
    (row,) = parts["speed"]["rows"]
    for name in ("ref", "ref-2b", "seed"):
        assert row[name]["median_s"] > 0
    assert parts["speed"]["profile"]["top"], parts["speed"]["profile"]
    lesson = parts["lesson06"]
    assert lesson["summary"]["cells"] >= 20
    assert [c for c in lesson["cells"] if c["outcome"] != "ok"] == []
    graded = {c["grade_id"] for c in lesson["cells"]}
    assert {"smooth_sse_device", "fused_scse_device"} <= graded


def test_the_report_lists_each_disagreement_with_both_messages():
    """Fed a made-up GPU run (one agreement, one disagreement explained by an earlier family,
    one not), the report counts them per exercise and shows both messages of each."""
    kit = _load_kit()
    rows = [
        {"id": "kept_iou/a", "exercise": "kept_iou", "origin": "mutant", "expected": "correct",
         "simulated": {"passed": True, "mistake": None, "message": "sim ok"},
         "cuda": {"passed": True, "mistake": None, "message": "gpu ok"}, "agree": True},
        {"id": "kept_iou/b", "exercise": "kept_iou", "origin": "lesson test", "expected": None,
         "simulated": {"passed": True, "mistake": None, "message": "sim says fine"},
         "cuda": {"passed": False, "mistake": "device", "message": "GPU output differs"},
         "agree": False, "earlier_failure": {"family": "values", "mistake": "dice",
                                             "message": "Dice"}},
        {"id": "scse/c", "exercise": "scse", "origin": "mutant", "expected": "correct",
         "simulated": {"passed": False, "mistake": "device", "message": "sim says mixed"},
         "cuda": {"passed": True, "mistake": None, "message": "gpu ok"}, "agree": False,
         "earlier_failure": None},
    ]
    report = {"quick": False, "env": {"date": "d", "torch": "2.11", "python": "3.12",
                                      "gpu": "NVIDIA H200", "cuda": "13.0"},
              "parts_run": ["agreement", "speed"],
              "parts": {"agreement": {"status": "done", "seconds": 1.0, "cuda": True,
                                      "rows": rows},
                        "speed": {"status": "done", "seconds": 1.0, "cuda": True,
                                  "min_passes": 5, "peak_bytes_per_s": 4.8e12, "target": 0.7,
                                  "target_met": False, "ref_large_of_peak": 0.21, "rows": []}}}
    text = kit.markdown(report)
    assert "No GPU run" not in text and "**NVIDIA H200**" in text
    assert "| `kept_iou` | 2 | 2 / 0 | 1 / 1 | 1 | 1 | 0 |" in text
    assert "| `scse` | 1 | 0 / 1 | 1 / 0 | 0 | 1 | 0 |" in text
    assert "Disagreements (2)" in text
    assert "GPU output differs" in text and "sim says fine" in text
    assert "fails values [dice]" in text
    assert "sim says mixed" in text and "Not explained" in text
    assert "Correct mutants the simulation failed" in text
    assert "**missed** (21%)" in text
