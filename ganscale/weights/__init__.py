"""Package-data home of the pinned evaluator weights (read through importlib.resources)."""
