"""Streamlit-facing helpers: the only package of ``ccr`` that imports streamlit."""
