"""Experiment grids over the task and maze runners: ``python -m experiments run``
runs them (locally or on Ray), ``python -m experiments report`` writes the study."""
