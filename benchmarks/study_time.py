"""How long a seed study takes, and what a second call costs: `study` on digits `class:3` with DEL at
K = 8 seeds per side, on a fresh workspace, then again (the stored study), then with --recompute
(every member reused, the figures computed again).

    python benchmarks/study_time.py            # writes benchmarks/results/timing/study_time.json and prints a table

Each call is a fresh `python -m unlearn_core study ...` process, timed from outside (wall clock,
interpreter start included). The host's load average is recorded beside each call: judge a time
only from a run on an otherwise idle machine.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "timing" / "study_time.json"  # results/*.json: benchmark tables
ARGS = ["study", "--dataset", "digits", "--forget", "class:3", "--method", "del", "--seeds", "8", "--json", "--quiet"]


def timed(extra: list[str], workspace: str) -> dict[str, object]:
    """One `study` process: its wall time, the load average before it, and what it reported."""
    load = os.getloadavg()[0]
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "unlearn_core", *ARGS, "--workspace", workspace, *extra],
                          cwd=ROOT, capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    wall = time.perf_counter() - start
    result = json.loads(done.stdout)
    return {"wall_s": wall, "load_before": load, "time_s": result["time_s"], "reused": result["reused"],
            "members_reused": result.get("members_reused"), "verdict": result["verdict"],
            "forgetting_quality": result["forgetting_quality"]}


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="study-time-") as scratch:
        workspace = str(Path(scratch) / "workspace")
        calls = {"first": timed([], workspace), "stored": timed([], workspace),
                 "recompute": timed(["--recompute"], workspace)}
    record = {"date": time.strftime("%Y-%m-%d"), "machine": platform.machine(), "cpus": os.cpu_count(),
              "python": platform.python_version(), "command": " ".join(ARGS), "calls": calls}
    OUT.write_text(json.dumps(record, indent=1))
    print("| call | wall s | load before | members reused |\n|---|---|---|---|")
    for name, c in calls.items():
        print(f"| {name} | {c['wall_s']:.1f} | {c['load_before']:.1f} | {c['members_reused']} |")


if __name__ == "__main__":
    main()
