"""Kill rate and hint rate of the grader on the mutants of ``tests/mutants/``.

For each exercise with mutants (the contract exercises, then lesson 03's): the number of wrong
mutants, how many the grader killed (some family failed), how many it killed with the matching
hint (the first failing family, mistake label and hint phrase the mutant expects), the two rates,
and how many correct mutants passed every family. A mutant counts as killed, or as hinted, only
if it is for every seed.

    .venv/bin/python bench/mutation_report.py              # a plain table, and every miss
    .venv/bin/python bench/mutation_report.py --markdown   # the table for the README
    .venv/bin/python bench/mutation_report.py --seeds 1 2 3 --by-class
"""
from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.mutants import registry  # noqa: E402  (the repository is on sys.path from here)


def evaluate(seeds):
    """``{mutant id: [Verdict per seed]}`` for every mutant, and the mutants."""
    mutants = registry.all_mutants(lessons=True)
    return mutants, {m.id: [registry.judge(m, seed) for seed in seeds] for m in mutants}


def tally(mutants, verdicts, key):
    """Rows of counts grouped by ``key(mutant)``, in first-seen order, plus a total row."""
    rows: dict[str, dict] = defaultdict(lambda: dict(wrong=0, killed=0, hinted=0, correct=0,
                                                     passing=0))
    for m in mutants:
        vs = verdicts[m.id]
        for group in (key(m), "total"):
            row = rows[group]
            if m.expected.correct:
                row["correct"] += 1
                row["passing"] += all(v.passed_all for v in vs)
            else:
                row["wrong"] += 1
                row["killed"] += all(v.killed for v in vs)
                row["hinted"] += all(v.hint_ok for v in vs)
    total = rows.pop("total")
    return [*rows.items(), ("total", total)]


def _rate(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "-"


def table(rows, label: str, markdown: bool) -> str:
    head = [label, "wrong", "killed", "killed with the matching hint", "kill rate", "hint rate",
            "correct passing"]
    body = [[name, str(r["wrong"]), str(r["killed"]), str(r["hinted"]),
             _rate(r["killed"], r["wrong"]), _rate(r["hinted"], r["wrong"]),
             f"{r['passing']} of {r['correct']}" if r["correct"] else "-"] for name, r in rows]
    if markdown:
        lines = ["| " + " | ".join(head) + " |",
                 "| " + " | ".join(["---"] + ["---:"] * (len(head) - 1)) + " |"]
        for cells in body:
            name = f"**{cells[0]}**" if cells[0] == "total" else f"`{cells[0]}`"
            lines.append("| " + " | ".join([name, *cells[1:]]) + " |")
        return "\n".join(lines)
    widths = [max(len(c) for c in col) for col in zip(head, *body)]
    fmt = lambda cells: "  ".join(c.ljust(w) if i == 0 else c.rjust(w)  # noqa: E731
                                  for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([fmt(head), fmt(["-" * w for w in widths]), *map(fmt, body)])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[20240611, 7],
                        help="seeds of the check runs (default: those of tests/test_mutation.py)")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument("--by-class", action="store_true",
                        help="also tally the wrong mutants by bug class (shape, value, ...)")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(1)   # tiny probes: a thread pool only adds overhead
    start = time.perf_counter()
    mutants, verdicts = evaluate(args.seeds)
    elapsed = time.perf_counter() - start
    print(table(tally(mutants, verdicts, lambda m: m.exercise), "exercise", args.markdown))
    if args.by_class:
        wrong = [m for m in mutants if not m.expected.correct]
        print()
        print(table(tally(wrong, verdicts, lambda m: m.expected.bug), "bug class",
                    args.markdown))
    # a known gap of the grader is reported, not counted as a regression
    misses = [v for vs in verdicts.values() for v in vs
              if not v.ok and not v.mutant.expected.gap]
    gaps = [m for m in mutants if m.expected.gap]
    if args.markdown:
        if gaps:
            print("\nKnown gaps (wrong mutants the grader does not catch):\n")
            for m in gaps:
                print(f"- `{m.id}`: {m.what}. {m.expected.gap[0].upper()}{m.expected.gap[1:]}.")
    else:
        print(f"\n{len(mutants)} mutants x {len(args.seeds)} seeds in {elapsed:.1f} s")
        for m in gaps:
            print(f"known gap: {m.id}: {m.what}\n  {m.expected.gap}")
        for v in misses:
            print("\n" + v.explain())
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())
