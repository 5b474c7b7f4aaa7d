"""Seed studies: is an unlearning method's result inside retraining's own seed-to-seed spread?

`seed_study.run_study` runs one request (data, model, forget set, method, settings) at K training
seeds beside K retrained models, on the benchmark executors, and judges it: per-metric spreads,
the noise floor, a verdict per metric (`verdict`), and the per-example forgetting quality of the
NeurIPS 2023 unlearning challenge (`epsilon`). `records` stores and finds studies in the workspace.
Import the modules directly (``from unlearn_core.study.seed_study import run_study``): this package
imports nothing eagerly, so the run layer can read stored noise floors without a cycle.
"""
