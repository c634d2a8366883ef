"""Backends: pure builders of Plans (argument lists as data) for one mechanism each."""
