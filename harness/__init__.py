"""Reproduce Go production incidents locally: a compose environment under limits,
load, faults on a timeline, and profiles on one clock."""

__version__ = "0.1.0"
