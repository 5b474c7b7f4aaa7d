"""Fixtures of the robustness catalogue (defined in bad_inputs.py, shared by its test files)."""

from bad_inputs import bad, marker  # noqa: F401  (fixtures)
