"""The file-system policy: one place that decides what the studio may read, write and delete.

Every path the studio builds from a name it did not choose itself goes through here:

- **Ids before paths.** Entry and run ids match `ID_PATTERN` (letters, digits, ``-`` and ``_``,
  at most 64 characters, starting with a letter or digit) before any path is built from them, so
  ``../x`` or ``/etc`` can never name a folder (`check_id`).
- **Nothing outside the workspace.** A folder the workspace writes to, moves into or deletes
  from must resolve inside the workspace's own root (`inside`, `workspace_dir`): a symbolic link
  leading out of it is refused, and deleting removes a link itself, never what it points to
  (`remove_inside`).
- **Stored files are opened only when regular and inside.** A file the studio reads back from its
  own folders (a feature-cache entry, its timings) is opened only when it is a regular file, not a
  link, FIFO, socket or device, under folders that resolve inside the workspace
  (`regular_file_inside`); anything else reads as absent.
- **Data folders are walked, not followed.** `TreeWalk` lists the regular files of a data
  folder; a link that leaves the root or leads to a folder (or file) already seen, and anything
  that is not a regular file (a FIFO, socket or device, which could block a read forever), is
  refused with a count and the first names (`TreeWalk.refuse_problems`); a name that is not valid
  UTF-8 is refused by name.
- **Room before the work.** `check_free_space` refuses a run whose results would not fit on the
  disk (a rough estimate from the model's size), and `disk_error` turns a full disk met while
  writing into an `OSError` the CLI reports in one line.

Every refusal is a `FsPolicyError`, a ValueError with one line that names the path.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
WORKSPACE_FOLDERS = (".tmp", "model", "run", "forget_set", "logs", "locks", "cache")
SPACE_MARGIN_BYTES = 16 * 2**20  # the registry, JSON files and logs around the stored tensors
_SHOWN = 3  # names shown per kind of refused entry


class FsPolicyError(ValueError):
    """A path the file-system policy refuses; the one-line message names it and says what to do."""


def check_id(value: object, what: str = "entry id") -> str:
    """`value` if it is a valid entry or run id (`ID_PATTERN`), else a FsPolicyError naming it."""
    if not isinstance(value, str) or ID_PATTERN.fullmatch(value) is None:
        raise FsPolicyError(f"{what} {value!r} is not a valid id (letters, digits, - and _, at most 64, "
                            "starting with a letter or digit); refused before any path is built from it")
    return value


def inside(root: str | Path, path: str | Path) -> Path:
    """`path` with every link resolved, or a FsPolicyError unless that lies inside `root` (resolved too).

    A path that does not exist yet is resolved as far as it exists, so a link anywhere on the way
    out of the workspace is caught before anything is created through it.
    """
    real_root = Path(os.path.realpath(root))
    real = Path(os.path.realpath(path))
    if real != real_root and real_root not in real.parents:
        raise FsPolicyError(f"{path} leads outside {root} (to {real}); the studio never writes or deletes "
                            "outside its workspace: remove the link or use another workspace")
    return real


def workspace_dir(root: str | Path, name: str) -> Path:
    """The workspace folder `root/name`, created if missing; a FsPolicyError when it is a file or a
    link out of the workspace (checked before any write goes through it)."""
    path = Path(root) / name
    if path.exists() and not path.is_dir():
        raise FsPolicyError(f"workspace folder {path} is a file, not a folder: move it away or use another workspace")
    if path.is_symlink() and not path.exists():
        raise FsPolicyError(f"workspace folder {path} is a link to nothing: remove it or use another workspace")
    inside(root, path)
    path.mkdir(parents=True, exist_ok=True)
    return path


def check_workspace_folders(root: str | Path, names: Iterable[str] = WORKSPACE_FOLDERS) -> None:
    """FsPolicyError unless each of the workspace's folders that exists is a folder inside it
    (run before the work, so a result is never lost to a scratch folder that is a file)."""
    for name in names:
        path = Path(root) / name
        if path.is_symlink() or path.exists():
            if not path.is_dir():
                raise FsPolicyError(f"workspace folder {path} is not a folder (a file or a broken link): "
                                    "move it away or use another workspace")
            inside(root, path)


def regular_file_inside(root: str | Path, path: str | Path) -> bool:
    """Whether `path` may be opened for reading: a regular file itself (not a link, FIFO, socket or
    device: opening a FIFO blocks forever) whose folders resolve inside `root`. Opens nothing."""
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return False
        inside(root, path)
    except (OSError, FsPolicyError):
        return False
    return True


def remove_inside(root: str | Path, path: str | Path) -> None:
    """Delete `path` (a folder tree, a file or a link) only if it lies inside `root`.

    A link is removed itself, never what it points to, and `shutil.rmtree` does not follow the
    links it meets inside the tree. Raises FsPolicyError for a path outside `root`.
    """
    path = Path(path)
    parent = inside(root, path.parent)
    if not path.is_symlink():
        inside(root, path)
    target = parent / path.name
    if target.is_symlink() or not target.is_dir():
        target.unlink(missing_ok=True)
    else:
        shutil.rmtree(target)


# -- data folders ----------------------------------------------------------------------------
_SPECIAL = ((stat.S_ISFIFO, "FIFO"), (stat.S_ISSOCK, "socket"), (stat.S_ISCHR, "character device"),
            (stat.S_ISBLK, "block device"))


def _kind(mode: int) -> str:
    return next((name for test, name in _SPECIAL if test(mode)), "special file")


def check_utf8_name(path: Path, what: str) -> None:
    """FsPolicyError unless the last part of `path` is valid UTF-8 (it names a class or a file)."""
    try:
        path.name.encode("utf-8")
    except UnicodeEncodeError:
        raw = os.fsencode(path.name)
        raise FsPolicyError(f"{what} {raw!r} in {path.parent} is not valid UTF-8: rename it") from None


@dataclass
class TreeWalk:
    """A walk over a data folder `root` that opens nothing but regular files inside it.

    One walk may list several folders (a train and a test split): a folder or file reached twice
    (through a link, or a link loop) is a problem, so the same image can never land in two
    classes or in both splits. Problems are collected; `refuse_problems` raises once for all.
    """

    root: Path
    problems: dict[str, list[str]] = field(default_factory=dict)
    _seen: set[tuple[int, int]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.root = Path(os.path.realpath(self.root))
        st = os.stat(self.root)
        self._seen.add((st.st_dev, st.st_ino))  # a link back to the root revisits it

    def _problem(self, kind: str, path: Path) -> None:
        self.problems.setdefault(kind, []).append(str(path))

    def _enter(self, path: Path, st: os.stat_result) -> bool:
        """Whether `path` (already stat-ed) may be read: inside the root, not seen before."""
        real = Path(os.path.realpath(path))
        if real != self.root and self.root not in real.parents:
            self._problem("link leaving the folder", path)
            return False
        if (st.st_dev, st.st_ino) in self._seen:
            self._problem("link to a folder or file already read", path)
            return False
        self._seen.add((st.st_dev, st.st_ino))
        return True

    def subfolders(self, folder: Path) -> list[Path]:
        """The folders directly in `folder`, sorted by name (links to folders inside the root count)."""
        out = []
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            path = Path(entry.path)
            try:
                st = os.stat(path)
            except OSError:
                continue  # a broken link: it names no folder
            if stat.S_ISDIR(st.st_mode):
                check_utf8_name(path, "folder")
                out.append(path)
        return out

    def files(self, folder: Path, extensions: tuple[str, ...]) -> list[Path]:
        """Every regular file under `folder` whose name ends in one of `extensions` (any case),
        sorted as torchvision sorts them (by folder path, then name)."""
        groups: list[tuple[str, list[Path]]] = []
        pending = [folder]
        while pending:
            current = pending.pop(0)
            try:
                st = os.stat(current)
            except OSError:
                continue
            if not self._enter(current, st):
                continue
            names: list[Path] = []
            for entry in sorted(os.scandir(current), key=lambda e: e.name):
                path = Path(entry.path)
                try:
                    st = os.stat(path)  # follows a link: the thing that would be opened
                except OSError:
                    continue  # a broken link opens nothing
                if stat.S_ISDIR(st.st_mode):
                    pending.append(path)
                elif path.name.lower().endswith(extensions):
                    check_utf8_name(path, "file")
                    if not stat.S_ISREG(st.st_mode):
                        self._problem(_kind(st.st_mode), path)
                    elif self._enter(path, st):
                        names.append(path)
            groups.append((str(current), names))
        return [p for _, names in sorted(groups, key=lambda g: g[0]) for p in names]

    def refuse_problems(self, what: str) -> None:
        """FsPolicyError listing every problem met so far (a count and the first names per kind)."""
        if not self.problems:
            return
        parts = []
        for kind, paths in self.problems.items():
            shown = ", ".join(paths[:_SHOWN]) + (f" and {len(paths) - _SHOWN} more" if len(paths) > _SHOWN else "")
            parts.append(f"{len(paths)} {kind}{'s' if len(paths) > 1 else ''} ({shown})")
        raise FsPolicyError(f"{what} {self.root}: refused {'; '.join(parts)}; only regular files and folders "
                            "inside it are read, each once: remove or replace these")


# -- disk space and write failures -----------------------------------------------------------
def check_free_space(folder: str | Path, needed_bytes: int, what: str) -> None:
    """FsPolicyError when the disk holding `folder` has less than `needed_bytes` plus a margin free.

    A rough check, made before the work: the estimate comes from the model's size, not the files.
    """
    path = Path(folder)
    while not path.exists():
        path = path.parent
    free = shutil.disk_usage(path).free
    need = int(needed_bytes) + SPACE_MARGIN_BYTES
    if free < need:
        raise FsPolicyError(f"{what}: the disk holding {folder} has {free / 2**20:.1f} MB free but this run stores "
                            f"about {need / 2**20:.1f} MB: free some space or use another folder")


_NO_SPACE = ("no space left", "disk quota exceeded", "file too large")


def disk_error(err: BaseException, path: str | Path) -> OSError | None:
    """An OSError (ENOSPC) for `err` when it reports a full disk in words only (safetensors' own
    error type does), so it reads as a full disk, not an internal error; None otherwise."""
    text = str(err).lower()
    if isinstance(err, OSError) or not any(word in text for word in _NO_SPACE):
        return None
    return OSError(errno.ENOSPC, "No space left on device", str(path))


__all__ = [
    "ID_PATTERN", "WORKSPACE_FOLDERS", "FsPolicyError", "TreeWalk", "check_free_space", "check_id",
    "check_utf8_name", "check_workspace_folders", "disk_error", "inside", "regular_file_inside", "remove_inside",
    "workspace_dir",
]
