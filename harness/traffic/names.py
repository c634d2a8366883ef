"""Endpoint names for replayed traffic: paths templated so a million distinct URLs read as a few
endpoints ('/users/123/orders/9f86d081' -> '/users/{id}/orders/{id}').

Each path segment is tried against the rules in order; the first that matches the whole segment
replaces it. The scenario's own rules (`replay.templates`) come before the built-in ones. The query
string is never part of a name. Past MAX_NAMES distinct names, new ones are counted as OTHER.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

MAX_NAMES = 200
OTHER = "(other)"

BUILTIN_RULES: tuple[tuple[str, str], ...] = (
    (r"\d+", "{id}"),                                                         # 123
    (r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", "{id}"),   # UUID
    (r"(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{8,}", "{id}"),                           # hex ids, hashes
    (r"(?=[A-Za-z0-9_-]*\d)(?=[A-Za-z0-9_-]*[A-Za-z])[A-Za-z0-9_-]{20,}", "{id}"),   # opaque tokens
)


@dataclass(frozen=True)
class Rule:
    pattern: str
    name: str


class Namer:
    def __init__(self, rules: tuple[Rule, ...] = (), max_names: int = MAX_NAMES):
        pairs = [(r.pattern, r.name) for r in rules] + list(BUILTIN_RULES)
        self.rules = [(re.compile(p), n) for p, n in pairs]
        self.max_names = max_names
        self.seen: set[str] = set()
        self._cache: dict[str, str] = {}

    def template(self, target: str) -> str:
        """The templated path of a request target (no query)."""
        path = target.split("?", 1)[0].split("#", 1)[0] or "/"
        cached = self._cache.get(path)
        if cached is not None:
            return cached
        segs = path.split("/")
        out = "/".join(self._segment(s) for s in segs)
        if len(self._cache) < 100_000:
            self._cache[path] = out
        return out

    def _segment(self, seg: str) -> str:
        if not seg:
            return seg
        for rx, name in self.rules:
            if rx.fullmatch(seg):
                return name
        return seg

    def name(self, target: str) -> str:
        """The endpoint name, bounded in number: past max_names new names are OTHER."""
        name = self.template(target)
        if name in self.seen:
            return name
        if len(self.seen) >= self.max_names:
            return OTHER
        self.seen.add(name)
        return name
