"""Unlearning Studio's library: data, models, training, forget sets, unlearning methods and metrics.

Importable and usable without Streamlit; the app's pages and the CLI (`python -m unlearn_core`)
are thin layers over it.
"""

__version__ = "0.1.0"
