"""Summarise `mutmut results --all true` (read on stdin) per module: mutants, killed, survived, other.

Usage (scripts/mutation.sh does this): python -m mutmut results --all true | python scripts/mutation_summary.py
Optional arguments are fnmatch patterns of mutant names to keep (e.g. "unlearn_core.forget.*").
"""

from __future__ import annotations

import fnmatch
import sys
from collections import Counter, defaultdict


def main(patterns: list[str]) -> None:
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for line in sys.stdin:
        name, sep, status = line.strip().rpartition(": ")
        if not sep or "__mutmut_" not in name:
            continue
        if patterns and not any(fnmatch.fnmatch(name, p) for p in patterns):
            continue
        function = name.split("__mutmut_")[0]
        module = function.rsplit(".", 1)[0].replace(".x\u01c1", ".").split(".x_")[0]
        counts[module][status.strip()] += 1
    print("| module | mutants | checked | killed | timeout | survived | no tests | kill rate (checked) |")
    print("|---|---|---|---|---|---|---|---|")
    for module, c in sorted(counts.items()):
        total = sum(c.values())
        checked = total - c["not checked"]
        caught = c["killed"] + c["timeout"]  # a mutant that hangs the tests is caught too
        rate = f"{caught / (checked - c['no tests']):.0%}" if checked > c["no tests"] else "–"
        print(f"| {module} | {total} | {checked} | {c['killed']} | {c['timeout']} | {c['survived']} | "
              f"{c['no tests']} | {rate} |")

if __name__ == "__main__":
    main(sys.argv[1:])
