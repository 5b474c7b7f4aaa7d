"""Streamlit-only helpers shared by the pages: cached resources, session state, forms, jobs, charts.

The library (`unlearn_core`) never imports this package or Streamlit.
"""
