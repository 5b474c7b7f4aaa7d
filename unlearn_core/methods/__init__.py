"""Unlearning methods: one module per method, all registered in `registry`.

Importing this package registers every method.
"""

import importlib
import pkgutil

from .base import MethodConfig, RunContext, UnlearnData, UnlearnResult, config_from_strings, param
from .registry import MethodInfo, RunOutcome, get_method, list_methods, register_method, run_method

for _module in pkgutil.iter_modules(__path__):
    if _module.name not in ("base", "registry", "common"):
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = [
    "MethodConfig",
    "MethodInfo",
    "RunContext",
    "RunOutcome",
    "UnlearnData",
    "UnlearnResult",
    "config_from_strings",
    "get_method",
    "list_methods",
    "param",
    "register_method",
    "run_method",
]
