"""Unlearning Studio's library: data, models, training, forget sets, unlearning methods and metrics.

Importable and usable without Streamlit; the app's pages and the CLI (`python -m unlearn_core`)
are thin layers over it.

Public, for users and method authors (each package's ``__init__`` lists its names):
`data` (datasets), `models` (architectures, checkpoints; `models.defaults` for the shipped and
trained original models), `forget` (specs, `ForgetSet`, `UnlearnData`), `methods` (the method
registry and `base` for writing one), `metrics` (evaluation and the metrics table), `localize`,
`concepts`, `runs` (one run end to end), `bench`, `store` (the workspace), `train`, `recipes`,
`device`, `registry`. See docs/architecture.md for the layers and where to add what.
"""

__version__ = "0.1.0"
