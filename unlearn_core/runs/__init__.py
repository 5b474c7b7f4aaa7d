"""Runs: one unlearning request end to end, and its life as a tracked, durable run.

- `one_run`: resolve the forget set, get (or reuse) the retrained oracle, run the method,
  evaluate original / unlearned / retrained and store it (`unlearn_run`, `find_run`);
- `start_model`: the model a run starts from (a checkpoint, the shipped default, or one trained
  with the recipe and cached);
- `records`: the SQLite registry of runs and their lifecycle (queued, running, done, ...);
- `worker`: runs executed in worker processes, cancellable from any tab or the CLI;
- `external`: a checkpoint unlearned by other code, evaluated and stored like a run.

Import the modules directly (``from unlearn_core.runs.one_run import unlearn_run``); this package
imports nothing eagerly, so reading run records does not import torch's training stack.
"""
