"""The workspace: a folder with a SQLite registry of models, runs and forget sets, and their files.

Every entry is written atomically: a row is inserted as ``pending``, its files are written into
a temporary folder that is renamed into place, then the row is marked ``complete``. Listing
shows complete entries only, so a crash never leaves a half-written entry visible. Nothing is
overwritten: each entry gets a fresh id and folder.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
import uuid
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .models import ModelMeta, SplitClassifier, load_checkpoint, save_checkpoint

KINDS = ("model", "run", "forget_set")
MODEL_FILE = "model.safetensors"
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


def new_entry_id() -> str:
    """A fresh, unique entry id: creation time (sortable) and a random suffix."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:8]


class Workspace:
    """A workspace folder (default ``./workspace``) with its registry ``registry.sqlite``."""

    def __init__(self, root: str | Path = "workspace") -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as db, db:
            db.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
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

        `entry_id` (from `new_entry_id`) is for an entry whose info names its own files."""
        if kind not in KINDS:
            raise ValueError(f"unknown entry kind {kind!r}; kinds: {', '.join(KINDS)}")
        entry_id = entry_id or new_entry_id()
        created = time.time()
        info_text = json.dumps(info, default=_json_default)
        with closing(self._connect()) as db, db:
            db.execute(
                "INSERT INTO entries VALUES (?, ?, ?, ?, ?, ?, 'pending', ?)",
                (entry_id, kind, name, dataset, key, created, info_text),
            )
        final = self.root / kind / entry_id
        tmp = self.root / ".tmp" / entry_id
        try:
            tmp.mkdir(parents=True)
            for file_name, writer in (files or {}).items():
                writer(tmp / file_name)
            (tmp / "info.json").write_text(info_text)
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp.rename(final)  # fails rather than overwrite: ids are unique
            with closing(self._connect()) as db, db:
                db.execute("UPDATE entries SET status = 'complete' WHERE id = ?", (entry_id,))
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            with closing(self._connect()) as db, db:
                db.execute("DELETE FROM entries WHERE id = ? AND status = 'pending'", (entry_id,))
            raise
        return Entry(entry_id, kind, name, dataset, key, created, info, final)

    def list(self, kind: str, dataset: str | None = None) -> list[Entry]:
        """Complete entries of `kind` (optionally of one dataset), newest first."""
        query = "SELECT * FROM entries WHERE kind = ? AND status = 'complete'"
        args: list[object] = [kind]
        if dataset is not None:
            query += " AND dataset = ?"
            args.append(dataset)
        with closing(self._connect()) as db:
            rows = db.execute(query + " ORDER BY created DESC, id DESC", args).fetchall()
        return [self._entry(r) for r in rows]

    def get(self, entry_id: str) -> Entry:
        """The complete entry with this id, or a ValueError."""
        with closing(self._connect()) as db:
            row = db.execute(
                "SELECT * FROM entries WHERE id = ? AND status = 'complete'", (entry_id,)
            ).fetchone()
        if row is None:
            raise ValueError(f"no entry {entry_id!r} in workspace {self.root}")
        return self._entry(row)

    def find(self, kind: str, key: str) -> Entry | None:
        """The newest complete entry of `kind` stored under `key` (e.g. a cached retrain)."""
        with closing(self._connect()) as db:
            row = db.execute(
                "SELECT * FROM entries WHERE kind = ? AND key = ? AND status = 'complete' "
                "ORDER BY created DESC LIMIT 1",
                (kind, key),
            ).fetchone()
        return None if row is None else self._entry(row)

    def _entry(self, row: sqlite3.Row) -> Entry:
        return Entry(
            row["id"], row["kind"], row["name"], row["dataset"], row["key"], row["created"],
            json.loads(row["info"]), self.root / row["kind"] / row["id"],
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
        entry_id = new_entry_id()
        spec = spec or f"indices:{self.root / 'forget_set' / entry_id / 'indices.txt'}"
        return self.put(
            "forget_set", name, dataset=dataset, info={"spec": spec, "n": int(len(idx))},
            files={"indices.txt": lambda p: np.savetxt(p, idx, fmt="%d")}, entry_id=entry_id,
        )

    def forget_set_indices(self, entry: Entry) -> np.ndarray:
        """The train indices of a stored forget set."""
        return np.atleast_1d(np.loadtxt(entry.file("indices.txt"), dtype=np.int64))


def _json_default(value: object) -> object:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in the workspace registry")
