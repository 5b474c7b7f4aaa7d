"""Benchmarks: sweeps of methods against retraining over seeds, and where their tasks run.

- `sweep`: every method against the retrained oracle over several seeds (mean and std);
- `tasks`: the tasks of a sweep and `run_task`, the one function that runs a task anywhere;
- `executors`: in this process (`LocalExecutor`) or on Ray (`RayExecutor`);
- `members`: what a seed study keeps of each model a task trains.

Import the modules directly (``from unlearn_core.bench.sweep import bench``); this package
imports nothing eagerly.
"""
