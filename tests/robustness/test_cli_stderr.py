"""A few catalogue cases as users meet them: `python -m unlearn_core` in a subprocess, real stderr.

In-process runs cannot show what the interpreter itself prints (warnings, an uncaught exception
hook, argparse's exit); these can. Started side by side: most of each is Python start-up.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest


def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # the package is installed (scripts/install.sh)
    return subprocess.run([sys.executable, "-m", "unlearn_core", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


CASES = {
    "unknown command": (lambda b: ["nope"], "invalid choice: 'nope'"),
    "--seed abc": (lambda b: ["train", "--dataset", "digits", "--seed", "abc"], "invalid int value: 'abc'"),
    "malicious bare pickle": (lambda b: ["eval", "--dataset", "digits", "--checkpoint", str(b["evil_raw.pt"])],
                              "holds pickled Python objects"),
    "garbage registry": (lambda b: ["unlearn", "--dataset", "digits", "--forget", "class:3", "--method", "finetune",
                                    "--workspace", str(b["registry_garbage"])], "file is not a database"),
}


@pytest.fixture(scope="module")
def results(bad: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, object]]:
    runs = {}
    with ThreadPoolExecutor(max_workers=3) as pool:
        for name, (argv, _) in CASES.items():
            cwd = tmp_path_factory.mktemp("cwd")
            runs[name] = (cwd, pool.submit(_cli, argv(bad), cwd))
        return {name: (cwd, future.result()) for name, (cwd, future) in runs.items()}


@pytest.mark.slow  # cost: one CLI process per case (torch import each)
@pytest.mark.parametrize("case", list(CASES))
def test_real_stderr_is_one_line(results, marker: Path, case: str) -> None:
    cwd, result = results[case]
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: "), result.stderr
    assert CASES[case][1] in result.stderr and "Traceback" not in result.stderr
    assert list(cwd.iterdir()) == []  # nothing written to the current folder
    assert not marker.exists()
