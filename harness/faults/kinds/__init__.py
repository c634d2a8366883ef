"""One module per fault kind; importing a module registers its kind.

The kinds are discovered, not listed: every module of this package is one kind, except
modules whose name starts with "_" (shared helpers such as _params).
"""
from __future__ import annotations

import importlib
import pkgutil


def load_all() -> None:
    for m in pkgutil.iter_modules(__path__):
        if not m.name.startswith("_"):
            importlib.import_module(f"{__name__}.{m.name}")
