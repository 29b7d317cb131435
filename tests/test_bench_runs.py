"""``bench/bench_scse.py --quick`` runs and prints its table and ratios. No timing is asserted:
a benchmark prints numbers, it is never a timed test."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_benchmark_quick_run_prints_the_ratios_and_writes_json(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_scse.py"), "--quick", "--json", str(out)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    for expected in ("torch 2.13.0", "torch threads", "| ref/seed |", "| ref/smp |",
                     "(4, 256, 32, 32)", "aim ref/seed <= 0.6", "aim ref/smp <= 0.5"):
        assert expected in text, f"{expected!r} missing from:\n{text}"
    results = json.loads(out.read_text())
    assert results["env"]["quick"] is True
    (row,) = [r for r in results["rows"] if r["device"] == "cpu"]
    assert row["shape"] == [4, 256, 32, 32]
    for name in ("ref", "ref-2b", "seed"):
        assert row[name]["median_s"] > 0
