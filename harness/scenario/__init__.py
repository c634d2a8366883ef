"""Scenario files: YAML with positions -> a typed, frozen Scenario."""
from harness.scenario.model import Scenario, load_scenario

__all__ = ["Scenario", "load_scenario"]
