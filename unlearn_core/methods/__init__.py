"""Unlearning methods: one module per method, registered in `registry`.

For a method author: `base` (config fields with `param`, `RunContext`, `UnlearnResult`; the data
a method reads, `UnlearnData`, lives in `unlearn_core.forget`), `registry` (`register_method`,
`run_method`) and `common` (helpers several methods share). The built-in methods are imported
on the first `list_methods` / `get_method` call, so importing one method module, or this package,
does not import all of them.
"""

from unlearn_core.methods.base import (
    MethodConfig,
    ParamSpec,
    RunContext,
    UnlearnData,
    UnlearnResult,
    config_from_strings,
    config_schema,
    param,
)
from unlearn_core.methods.registry import (
    MethodInfo,
    RunOutcome,
    get_method,
    list_methods,
    register_method,
    resolved_defaults,
    run_method,
)

__all__ = [
    "MethodConfig",
    "MethodInfo",
    "ParamSpec",
    "RunContext",
    "RunOutcome",
    "UnlearnData",
    "UnlearnResult",
    "config_from_strings",
    "config_schema",
    "get_method",
    "list_methods",
    "param",
    "register_method",
    "resolved_defaults",
    "run_method",
]
