"""The workspace's cache folder as a whole: what it holds and clearing it.

``<workspace>/cache/`` holds what `feature_cache` computed once per model and data (one folder
per namespace: ``outputs``, ``projection``, ``concepts``, ``comparison``, ``inspection``, ...) and
the timings the progress estimates come from (``timings.json``). Everything in it can be computed
again, so clearing it loses time, never results. It is a workspace folder like ``run`` or
``model`` (`fs_policy.WORKSPACE_FOLDERS`): counting and clearing follow the file-system policy.
A cache folder that is a link is never entered; inside it, links and special files (FIFOs,
sockets, devices) are never followed or opened: they are named, not counted, and clearing removes
a link itself, never what it points to.

No torch here: the CLI's ``cache`` command only reads sizes and removes files.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

import unlearn_core.fs_policy as fs_policy

CACHE_FOLDER = "cache"


@dataclass(frozen=True)
class CacheUsage:
    """Regular files in the cache folder and their bytes: in all and per entry of the folder (a
    namespace folder, or a file such as ``timings.json``); `skipped` names what was not counted."""

    path: str
    files: int
    bytes: int
    entries: dict[str, dict[str, int]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CacheClearing:
    """What `clear_cache` removed (or, in a dry run, would remove): the entries, the bytes of their
    regular files, and what it left (a linked cache folder, an entry it could not remove)."""

    removed: list[str]
    freed_bytes: int
    skipped: list[str]


def _count(path: Path, skipped: list[str]) -> tuple[int, int]:
    """Regular files under `path` and their bytes, never following a link; others go to `skipped`."""
    try:
        info = os.lstat(path)
    except OSError:  # removed meanwhile (another process replacing or clearing an entry)
        return 0, 0
    if stat.S_ISREG(info.st_mode):
        return 1, info.st_size
    if not stat.S_ISDIR(info.st_mode):
        skipped.append(f"{path} (a link or special file: not followed, not counted)")
        return 0, 0
    files = size = 0
    for entry in sorted(os.scandir(path), key=lambda e: e.name):
        n, b = _count(Path(entry.path), skipped)
        files, size = files + n, size + b
    return files, size


def _linked(folder: Path) -> bool:
    return folder.is_symlink() or (folder.exists() and not folder.is_dir())


def cache_usage(root: str | Path) -> CacheUsage:
    """What the cache folder of the workspace at `root` holds (nothing when it does not exist)."""
    folder = Path(root) / CACHE_FOLDER
    if _linked(folder):
        return CacheUsage(str(folder), 0, 0, skipped=[f"{folder} (a link or not a folder: never entered)"])
    skipped: list[str] = []
    entries = {}
    if folder.is_dir():
        for child in sorted(folder.iterdir()):
            files, size = _count(child, skipped)
            entries[child.name] = {"files": files, "bytes": size}
    return CacheUsage(str(folder), sum(e["files"] for e in entries.values()),
                      sum(e["bytes"] for e in entries.values()), entries, skipped)


def clear_cache(root: str | Path, *, dry_run: bool = False) -> CacheClearing:
    """Remove (with `dry_run` only list) every entry of the cache folder of the workspace at `root`,
    through `fs_policy.remove_inside`; the folder itself stays. A cache folder that is a link is
    left alone (reported in `skipped`); an entry another process holds open is removed as well
    (it recomputes what it needs), one that cannot be removed is reported."""
    usage = cache_usage(root)
    folder = Path(usage.path)
    if _linked(folder) or not folder.is_dir():
        return CacheClearing([], 0, usage.skipped)
    removed, freed, skipped = [], 0, []
    for name, counts in usage.entries.items():
        path = folder / name
        if not dry_run:
            try:
                fs_policy.remove_inside(root, path)
            except (OSError, fs_policy.FsPolicyError) as err:
                skipped.append(f"{path} (not removed: {err})")
                continue
        removed.append(str(path))
        freed += counts["bytes"]
    return CacheClearing(removed, freed, skipped)
