"""Unlearning Studio in a checkout: `streamlit run app.py` (installed: `unlearning-studio`)."""

from studio_ui.navigation import main

main()
