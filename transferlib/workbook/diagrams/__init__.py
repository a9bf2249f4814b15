"""Diagrams drawn by code for the notebooks: one module per picture family (matplotlib only)."""
