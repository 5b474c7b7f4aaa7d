"""The workspace: where models, runs and forget sets are stored, and what may be read or written.

- `store`: the folder, its SQLite registry and atomic entries (`Workspace`);
- `model_cache`: models computed once and reused (retrained oracles, trained originals);
- `fingerprint`: content hashes of datasets, part of every cache key;
- `studies`: stored seed studies, found by their request (and the noise floor they give a run).

Which paths it may read, write and delete is decided by `unlearn_core.fs_policy` (a foundation:
the data loaders use it too). Import the modules directly (``from unlearn_core.workspace.store import Workspace``).
"""
