"""One module per fault kind; importing a module registers its kind."""
from __future__ import annotations

import importlib

MODULES = ("delay", "loss", "duplicate", "corrupt", "reorder", "rate", "partition", "reset",
           "slow_close", "timeout", "memory", "cpu", "cpuset", "pause", "kill", "restart", "stop",
           "cpu_pressure", "memory_pressure")


def load_all() -> None:
    for name in MODULES:
        importlib.import_module(f"{__name__}.{name}")
