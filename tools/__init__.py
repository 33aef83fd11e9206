"""Research tools, run from the repo root as `python tools/NAME.py` (see README.md); not installed.

A package only so that tests can import a tool's pieces (`from tools import ablate`).
"""
