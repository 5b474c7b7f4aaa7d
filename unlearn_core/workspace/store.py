"""The workspace: a folder with a SQLite registry of models, runs and forget sets, and their files.

Every entry is written atomically: a row is inserted as ``pending``, its files are written into
a temporary folder that is renamed into place, then the row is marked ``complete``. Listing
shows complete entries only, so a crash never leaves a half-written entry visible. Nothing is
overwritten: each entry gets a fresh id and folder. A cached entry whose files turn out missing
or unreadable is marked ``broken`` (kept for inspection, never served again); `housekeeping`
removes the pending rows and temporary folders a crashed writer left behind.

Runs are stored here too (`save_run`, `load_run_artifacts`): tensors in safetensors files,
everything else as strict JSON through the project's one encoder, `serialize.dumps`.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

import unlearn_core.fs_policy as fs_policy
from unlearn_core.models import ModelMeta, SplitClassifier, load_checkpoint, save_checkpoint
from unlearn_core.serialize import dumps

KINDS = ("model", "run", "forget_set", "study")
MODEL_FILE = "model.safetensors"
STALE_PENDING_S = 600.0  # a put writes its files in seconds; a pending row this old was left by a crash
FileWriter = Callable[[Path], None]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    dataset TEXT NOT NULL,
    key TEXT,
    created REAL NOT NULL,
    status TEXT NOT NULL,
    info TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_kind ON entries(kind, dataset, status);
CREATE INDEX IF NOT EXISTS entries_key ON entries(key);
"""


@dataclass(frozen=True)
class Entry:
    """One stored model, run or forget set: its row plus the folder holding its files."""

    id: str
    kind: str
    name: str
    dataset: str
    key: str | None
    created: float
    info: dict
    path: Path

    def file(self, name: str) -> Path:
        return self.path / name


@dataclass
class CleanReport:
    """What `Workspace.clean` removed (or would remove): pending row ids, `.tmp` paths, what it skipped."""

    pending_rows: list[str] = field(default_factory=list)
    tmp_folders: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """How many rows and folders (the `cleaned` field of `runs --json`)."""
        return {"pending_rows": len(self.pending_rows), "tmp_folders": len(self.tmp_folders)}


def _write(writer: FileWriter, path: Path) -> None:
    """Run one file writer; a full disk reported in words only (safetensors) becomes an OSError."""
    try:
        writer(path)
    except Exception as err:
        full = fs_policy.disk_error(err, path)
        if full is None:
            raise
        raise full from None


class WorkspaceError(ValueError):
    """The workspace folder or its registry cannot be used; the message says which and what to do."""


def check_workspace_root(root: str | Path) -> Path:
    """`root` as a Path, or a WorkspaceError: an empty name (it would mean the current folder) or a file.

    A folder that does not exist yet is accepted (the workspace creates it); callers that must
    ask first (the app) check ``Path.exists`` themselves.
    """
    if str(root).strip() == "":
        raise WorkspaceError("the workspace folder name is empty: name a folder (e.g. workspace)")
    path = Path(root).expanduser()
    if path.exists() and not path.is_dir():
        raise WorkspaceError(f"workspace {path} is a file, not a folder: name a folder")
    return path


def registry_error(root: Path, err: sqlite3.Error) -> WorkspaceError:
    """A one-line WorkspaceError for a SQLite failure on the registry of the workspace at `root`."""
    registry = Path(root) / "registry.sqlite"
    text = str(err)
    if "locked" in text or "busy" in text:
        advice = "another process is writing to it; wait for it to finish, or use another workspace"
    elif "readonly" in text or "unable to open" in text or "disk I/O" in text:
        advice = "the folder cannot be written; make it writable or use another workspace"
    elif "full" in text:
        advice = "the disk is full; free some space"
    else:
        advice = "the file is damaged; move it away (a new empty registry is then created) or use another workspace"
    return WorkspaceError(f"workspace registry {registry} cannot be used ({text}): {advice}")


def _check_file_name(name: str) -> None:
    """ValueError unless `name` is a plain file name (no folder part, '..', or the reserved info.json)."""
    if (not isinstance(name, str) or name in ("", ".", "..", "info.json") or "/" in name or "\\" in name
            or "\x00" in name or Path(name).is_absolute()):
        raise ValueError(f"entry file name {name!r} is not a plain file name inside the entry's folder")


class Workspace:
    """A workspace folder (default ``./workspace``) with its registry ``registry.sqlite``."""

    def __init__(self, root: str | Path = "workspace") -> None:
        self.root = check_workspace_root(root)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise WorkspaceError(f"workspace {self.root}: a part of this path is a file, not a folder") from None
        try:
            with closing(self.connect()) as db, db:
                db.executescript(_SCHEMA)
                if db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                    raise sqlite3.DatabaseError("database disk image is malformed")
        except sqlite3.Error as err:
            raise registry_error(self.root, err) from None

    def check_writable(self) -> None:
        """WorkspaceError unless a file and a registry row could be written now.

        Commands call it before an expensive step (training, a benchmark) whose result would
        otherwise be lost to a read-only or full disk, or a registry another process holds.
        """
        fs_policy.check_workspace_folders(self.root)
        try:
            fd, probe = tempfile.mkstemp(dir=self.root, prefix=".probe-")
            os.close(fd)
            os.remove(probe)
        except OSError as err:
            raise WorkspaceError(f"workspace {self.root} cannot be written ({err.strerror}): "
                                 "make it writable, free space, or use another workspace") from None
        try:
            with closing(self.connect()) as db:
                db.execute("BEGIN IMMEDIATE")
                db.rollback()
        except sqlite3.Error as err:
            raise registry_error(self.root, err) from None

    def connect(self) -> sqlite3.Connection:
        """A connection to the registry (rows as `sqlite3.Row`; waits up to 30 s for another writer).

        Run records (`run_records`) keep their own table in it through this connection too.
        """
        db = sqlite3.connect(self.root / "registry.sqlite", timeout=30)
        db.row_factory = sqlite3.Row
        return db

    # -- generic entries -------------------------------------------------------------------
    def put(
        self,
        kind: str,
        name: str,
        *,
        dataset: str,
        info: dict,
        files: dict[str, FileWriter] | None = None,
        key: str | None = None,
        entry_id: str | None = None,
    ) -> Entry:
        """Store a new entry atomically and return it; `files` maps file names to writers.

        `entry_id` (from `new_id`) lets a tracked run store its result under its own id; it must
        match `fs_policy.ID_PATTERN`. The scratch and kind folders are checked (`fs_policy`)
        before anything is written: a link leading out of the workspace is refused.
        """
        if kind not in KINDS:
            raise ValueError(f"unknown entry kind {kind!r}; kinds: {', '.join(KINDS)}")
        for file_name in files or {}:
            _check_file_name(file_name)
        entry_id = fs_policy.check_id(new_id() if entry_id is None else entry_id)
        tmp_root, kind_root = fs_policy.workspace_dir(self.root, ".tmp"), fs_policy.workspace_dir(self.root, kind)
        created = time.time()
        info_text = dumps(info)
        with closing(self.connect()) as db, db:
            db.execute(
                "INSERT INTO entries VALUES (?, ?, ?, ?, ?, ?, 'pending', ?)",
                (entry_id, kind, name, dataset, key, created, info_text),
            )
        final = kind_root / entry_id
        tmp = tmp_root / entry_id
        try:
            tmp.mkdir()
            for file_name, writer in (files or {}).items():
                _write(writer, tmp / file_name)
            (tmp / "info.json").write_text(info_text)
            tmp.rename(final)  # fails rather than overwrite: ids are unique
            with closing(self.connect()) as db, db:
                db.execute("UPDATE entries SET status = 'complete' WHERE id = ?", (entry_id,))
        except BaseException:
            if tmp.is_dir() and not tmp.is_symlink():
                shutil.rmtree(tmp, ignore_errors=True)
            with closing(self.connect()) as db, db:
                db.execute("DELETE FROM entries WHERE id = ? AND status = 'pending'", (entry_id,))
            raise
        return Entry(entry_id, kind, name, dataset, key, created, info, self.root / kind / entry_id)

    def list(self, kind: str, dataset: str | None = None) -> list[Entry]:
        """Complete entries of `kind` (optionally of one dataset), newest first; rows whose id the
        file-system policy refuses (a crafted registry) are left out."""
        query = "SELECT * FROM entries WHERE kind = ? AND status = 'complete'"
        args: list[object] = [kind]
        if dataset is not None:
            query += " AND dataset = ?"
            args.append(dataset)
        with closing(self.connect()) as db:
            rows = db.execute(query + " ORDER BY created DESC, id DESC", args).fetchall()
        return [self._entry(r) for r in rows if fs_policy.ID_PATTERN.fullmatch(r["id"])]  # a crafted id is never served

    def get(self, entry_id: str) -> Entry:
        """The complete entry with this id, or a ValueError."""
        with closing(self.connect()) as db:
            row = db.execute(
                "SELECT * FROM entries WHERE id = ? AND status = 'complete'", (entry_id,)
            ).fetchone()
        if row is None:
            raise ValueError(f"no entry {entry_id!r} in workspace {self.root}")
        return self._entry(row)

    def find(self, kind: str, key: str) -> Entry | None:
        """The newest complete entry of `kind` stored under `key` (e.g. a cached retrain)."""
        with closing(self.connect()) as db:
            row = db.execute(
                "SELECT * FROM entries WHERE kind = ? AND key = ? AND status = 'complete' "
                "ORDER BY created DESC LIMIT 1",
                (kind, key),
            ).fetchone()
        return None if row is None else self._entry(row)

    def mark_broken(self, entry_id: str) -> None:
        """Never serve this entry again (its files are missing or unreadable); the row stays for inspection."""
        with closing(self.connect()) as db, db:
            db.execute("UPDATE entries SET status = 'broken' WHERE id = ?", (entry_id,))

    def housekeeping(self, older_than_s: float = STALE_PENDING_S) -> dict[str, int]:
        """Remove what a crashed writer left (`clean`); returns how many rows and folders went."""
        return self.clean(older_than_s).counts()

    def clean(self, older_than_s: float = STALE_PENDING_S, *, dry_run: bool = False) -> CleanReport:
        """Remove (or with `dry_run` only list) what a crashed writer left: pending rows and `.tmp`
        entries older than `older_than_s`; younger ones may belong to a put in progress elsewhere.

        Only inside the workspace (`fs_policy.remove_inside`): a `.tmp` that is a link is never
        entered (it is reported as skipped), and a link inside it is removed itself, not followed.
        """
        cutoff = time.time() - older_than_s
        with closing(self.connect()) as db:
            rows = [r[0] for r in db.execute("SELECT id FROM entries WHERE status = 'pending' AND created < ?",
                                             (cutoff,))]
        report = CleanReport(pending_rows=rows)
        tmp_root = self.root / ".tmp"
        if tmp_root.is_symlink():
            report.skipped.append(f"{tmp_root} (a link: never entered)")
        elif tmp_root.is_dir():
            for tmp in sorted(tmp_root.iterdir()):
                if tmp.lstat().st_mtime < cutoff:
                    report.tmp_folders.append(str(tmp))
        if dry_run:
            return report
        if rows:
            with closing(self.connect()) as db, db:
                db.executemany("DELETE FROM entries WHERE id = ? AND status = 'pending'", [(r,) for r in rows])
        for tmp in report.tmp_folders:
            try:
                fs_policy.remove_inside(self.root, tmp)
            except OSError:
                pass  # gone already, or not removable now: the next clean tries again
        return report

    def _entry(self, row: sqlite3.Row) -> Entry:
        if row["kind"] not in KINDS:
            raise ValueError(f"registry row {row['id']!r} has an unknown kind {row['kind']!r}; refused")
        return Entry(
            row["id"], row["kind"], row["name"], row["dataset"], row["key"], row["created"],
            json.loads(row["info"]), self.root / row["kind"] / fs_policy.check_id(row["id"]),
        )

    # -- typed helpers ---------------------------------------------------------------------
    def save_model(
        self, model: torch.nn.Module, meta: ModelMeta, name: str, *, key: str | None = None, info: dict | None = None
    ) -> Entry:
        """Store a model checkpoint (safetensors + metadata)."""
        return self.put(
            "model", name, dataset=meta.dataset, key=key,
            info={"meta": json.loads(meta.to_json()), **(info or {})},
            files={MODEL_FILE: lambda p: save_checkpoint(model, p, meta)},
        )

    def load_model(self, entry_id: str) -> tuple[SplitClassifier, ModelMeta]:
        """Load a stored model by id."""
        entry = self.get(entry_id)
        return load_checkpoint(entry.file(MODEL_FILE))

    def save_forget_set(self, name: str, dataset: str, spec: str | None, indices: np.ndarray) -> Entry:
        """Keep a named forget set (its spec text and exact train indices) for later runs.

        `spec` None (hand-picked samples): the set's spec is ``indices:<its own indices.txt>``.
        """
        idx = np.asarray(indices, dtype=np.int64)
        entry_id = new_id()
        spec = spec or f"indices:{self.root / 'forget_set' / entry_id / 'indices.txt'}"
        return self.put(
            "forget_set", name, dataset=dataset, info={"spec": spec, "n": int(len(idx))},
            files={"indices.txt": lambda p: np.savetxt(p, idx, fmt="%d")}, entry_id=entry_id,
        )

    def forget_set_indices(self, entry: Entry) -> np.ndarray:
        """The train indices of a stored forget set."""
        return np.atleast_1d(np.loadtxt(entry.file("indices.txt"), dtype=np.int64))

    def save_run(
        self,
        summary: dict[str, Any],
        unlearned: torch.nn.Module,
        meta: ModelMeta,
        *,
        mask: dict[str, torch.Tensor] | None = None,
        artifacts: dict[str, Any] | None = None,
        entry_id: str | None = None,
    ) -> Entry:
        """Store a run atomically: its summary (result.json and the registry row), the unlearned
        model, the parameter mask and the method's artifacts (tensors to safetensors, the rest JSON)."""
        s = summary
        unlearned_meta = ModelMeta(**{**meta.__dict__, "note": f"{s['method']} forgetting {s['forget']}"})
        files: dict[str, FileWriter] = {
            "result.json": lambda p: p.write_text(dumps(s, indent=2)),
            MODEL_FILE: lambda p: save_checkpoint(unlearned, p, unlearned_meta),
        }
        if mask:
            files["mask.safetensors"] = lambda p: save_file(
                {k: v.detach().cpu().to(torch.uint8).contiguous() for k, v in mask.items()}, str(p)
            )
        tensors, plain = split_artifacts(artifacts or {})
        if tensors:
            files["artifacts.safetensors"] = lambda p: save_file(tensors, str(p))
        if plain:
            files["artifacts.json"] = lambda p: p.write_text(dumps(plain))
        name = f"{s['method']} | {s['forget']} | seed {s['seed']}"
        return self.put("run", name, dataset=s["dataset"], info=json.loads(dumps(s)), files=files, entry_id=entry_id)


def new_id() -> str:
    """A fresh entry id: creation time (sortable, readable) and 8 random hex digits."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:8]


def split_artifacts(artifacts: dict[str, Any], prefix: str = "") -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Separate tensors / arrays (for safetensors) from plain values (for JSON), keys joined by '/'."""
    tensors: dict[str, torch.Tensor] = {}
    plain: dict[str, Any] = {}
    for key, value in artifacts.items():
        name = f"{prefix}{key}"
        if isinstance(value, np.ndarray) and value.dtype != object:
            value = torch.from_numpy(value)
        if isinstance(value, torch.Tensor):
            tensors[name] = value.detach().cpu().contiguous()
        elif isinstance(value, dict):
            sub_t, sub_p = split_artifacts(value, name + "/")
            tensors.update(sub_t)
            plain.update(sub_p)
        else:
            plain[name] = value
    return tensors, plain


def load_run_artifacts(entry: Entry) -> dict[str, Any]:
    """The stored artifacts of a run, flat: '/'-joined keys to tensors or plain values."""
    out: dict[str, Any] = {}
    if entry.file("artifacts.safetensors").exists():
        out.update(load_file(str(entry.file("artifacts.safetensors"))))
    if entry.file("artifacts.json").exists():
        out.update(json.loads(entry.file("artifacts.json").read_text()))
    return out
