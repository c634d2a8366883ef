"""Server settings: the `harness.*` keys of docs/DESIGN.md, validated.

Invalid values are reported (one message per key) and replaced by the default,
so a typo in the settings never stops the server.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

MODES = ("own", "flat", "cum")
STALE_MODES = ("mark", "hide")


@dataclass(frozen=True)
class Settings:
    runsDir: str = "runs"
    run: str | None = None
    profile: str = "cpu"
    sampleType: str | None = None
    phase: str | None = None
    mode: str = "own"
    threshold: float = 0.01
    annotations: bool = True
    inlayHints: bool = True
    codeLens: bool = True
    diagnostics: bool = True
    hover: bool = True
    diagnosticsTopN: int = 10
    pathMappings: tuple[tuple[str, str], ...] = ()
    staleMode: str = "mark"
    pollInterval: float = 2.0
    maxProfileMiB: float = 256.0
    extra: dict = field(default_factory=dict, compare=False)


def _check(name: str, value: Any) -> Any:
    """Return the normalised value or raise ValueError with what is wrong."""
    if name in ("runsDir", "profile"):
        if not isinstance(value, str) or not value:
            raise ValueError("expected a non-empty string")
        return value
    if name in ("run", "sampleType", "phase"):
        if value is not None and not isinstance(value, str):
            raise ValueError("expected a string or null")
        return value or None
    if name in ("annotations", "inlayHints", "codeLens", "diagnostics", "hover"):
        if not isinstance(value, bool):
            raise ValueError("expected true or false")
        return value
    if name == "mode":
        if value not in MODES:
            raise ValueError(f"expected one of {', '.join(MODES)}")
        return value
    if name == "staleMode":
        if value not in STALE_MODES:
            raise ValueError(f"expected one of {', '.join(STALE_MODES)}")
        return value
    if name == "threshold":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise ValueError("expected a number between 0 and 1")
        return float(value)
    if name == "pollInterval":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise ValueError("expected a positive number of seconds")
        return float(value)
    if name == "maxProfileMiB":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1 << 20:
            raise ValueError("expected a number of MiB above 0 (and at most 1048576)")
        return float(value)
    if name == "diagnosticsTopN":
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError("expected a non-negative integer")
        return value
    if name == "pathMappings":
        return _mappings(value)
    raise KeyError(name)


def _mappings(value: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, list):
        raise ValueError('expected a list of {"from": ..., "to": ...}')  # noqa: TRY004 - reported, not raised out
    out = []
    for i, item in enumerate(value):
        if not (isinstance(item, dict) and isinstance(item.get("from"), str)
                and isinstance(item.get("to"), str) and item["from"]):
            raise ValueError(f'item {i}: expected {{"from": "<prefix>", "to": "<path>"}}, got {item!r}')
        out.append((item["from"], item["to"]))
    return tuple(out)


_KNOWN = {f.name for f in fields(Settings)} - {"extra"}


def parse_settings(raw: Any, base: Settings | None = None) -> tuple[Settings, list[str]]:
    """Settings from a client object (the `harness` section); returns (settings, problems)."""
    base = base or Settings()
    if raw is None:
        return base, []
    if isinstance(raw, dict) and isinstance(raw.get("harness"), dict):
        raw = raw["harness"]
    if not isinstance(raw, dict):
        return base, [f"harness settings: expected an object, got {type(raw).__name__}; using defaults"]
    changes: dict[str, Any] = {}
    problems: list[str] = []
    extra: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in _KNOWN:
            extra[key] = value
            continue
        try:
            changes[key] = _check(key, value)
        except ValueError as exc:
            problems.append(f"harness.{key}: {exc} (got {value!r}); using {getattr(Settings(), key)!r}")
            changes[key] = getattr(Settings(), key)
    return replace(base, extra=extra, **changes), problems
