"""Seed studies: is an unlearning method's result inside retraining's own seed-to-seed spread?

`seed_study.run_study` runs one request (data, model, forget set, method, settings) at K training
seeds beside K retrained models, on the benchmark executors, and judges it: per-metric spreads,
the noise floor, a verdict per metric (`metrics.verdict`), and the per-example forgetting quality
of the NeurIPS 2023 unlearning challenge (`metrics.epsilon`). `workspace.studies` stores and finds
studies; `text` is the CLI's text output. Import the modules directly
(``from unlearn_core.study.seed_study import run_study``): this package imports nothing eagerly.
"""
