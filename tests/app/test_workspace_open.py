"""The app opens a workspace without cleaning it: removing a crash's leftovers is `runs --clean`."""

from __future__ import annotations

import os
import time
from pathlib import Path


def test_opening_a_workspace_in_the_app_deletes_nothing(tmp_path: Path) -> None:
    from studio_ui.resources import get_workspace

    old = tmp_path / ".tmp" / "left-by-a-crash"
    old.mkdir(parents=True)
    os.utime(old, (time.time() - 3600,) * 2)
    get_workspace.clear()
    get_workspace(str(tmp_path))
    assert old.exists()  # cleaning is `runs --clean`, never a side effect of opening
