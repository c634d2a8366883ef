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


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("expected a non-empty string")
    return value


def _text_or_none(value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ValueError("expected a string or null")
    return value or None


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("expected true or false")
    return value


def _one_of(choices: tuple[str, ...]):
    def check(value: Any) -> str:
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}")
        return value
    return check


def _number(ok, expected: str):
    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not ok(value):
            raise ValueError(f"expected {expected}")
        return float(value)
    return check


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError("expected a non-negative integer")
    return value


# setting -> its check: the normalised value, or ValueError with what is wrong
CHECKS = {
    "runsDir": _text, "profile": _text,
    "run": _text_or_none, "sampleType": _text_or_none, "phase": _text_or_none,
    "annotations": _flag, "inlayHints": _flag, "codeLens": _flag, "diagnostics": _flag, "hover": _flag,
    "mode": _one_of(MODES), "staleMode": _one_of(STALE_MODES),
    "threshold": _number(lambda v: 0 <= v <= 1, "a number between 0 and 1"),
    "pollInterval": _number(lambda v: v > 0, "a positive number of seconds"),
    "maxProfileMiB": _number(lambda v: 0 < v <= 1 << 20, "a number of MiB above 0 (and at most 1048576)"),
    "diagnosticsTopN": _count,
    "pathMappings": lambda value: _mappings(value),
}


def _check(name: str, value: Any) -> Any:
    """Return the normalised value or raise ValueError with what is wrong (KeyError: no such setting)."""
    return CHECKS[name](value)


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
