"""`load.replay`: which traffic file to replay and how (docs/load.md "Replay").

    load:
      model: replay
      replay:
        file: prod-access.log.gz       # relative to the scenario
        format: auto                   # auto | combined | jsonl | har
        speed: 1                       # 2 = twice as fast
        window: {start: 5m, end: 10m}  # seconds after the log's first request
        loop: false                    # replay the window again until the load ends
        max_rate: 500                  # arrivals past it in a second are skipped (counted)
        rewrite_host: true             # false: send the logged Host header
        keep_headers: [Authorization]  # credentials are dropped unless kept by name
        drop_headers: [X-Debug]
        templates: [{match: '[a-z]+-[0-9]+', name: '{slug}'}]   # before the built-in {id} rules
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path

from harness.errors import HarnessError
from harness.parse.context import ParseContext
from harness.parse.node import Node
from harness.traffic.formats import FORMATS, Source
from harness.traffic.names import Rule
from harness.traffic.timing import Window

_KEYS = ("file", "format", "speed", "window", "loop", "max_rate", "rewrite_host", "keep_headers",
         "drop_headers", "templates")
CHECK_LINES = 10_000


@dataclass(frozen=True)
class ReplaySpec:
    file: str
    format: str = "auto"
    speed: float = 1.0
    window_start: float = 0.0
    window_end: float | None = None
    loop: bool = False
    max_rate: float | None = None
    rewrite_host: bool = True
    keep_headers: tuple[str, ...] = ()
    drop_headers: tuple[str, ...] = ()
    templates: tuple[tuple[str, str], ...] = ()

    def window(self) -> Window:
        return Window(self.window_start, self.window_end, self.speed, self.max_rate, self.loop)

    def rules(self) -> tuple[Rule, ...]:
        return tuple(Rule(p, n) for p, n in self.templates)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> ReplaySpec:
        return cls(**{**d, "keep_headers": tuple(d.get("keep_headers", ())),
                      "drop_headers": tuple(d.get("drop_headers", ())),
                      "templates": tuple(tuple(t) for t in d.get("templates", ()))})


def parse_replay(node: Node, ctx: ParseContext) -> ReplaySpec:
    k = node.keys(_KEYS, required=("file",))
    path = ctx.resolve(k["file"])
    if not path.is_file():
        raise k["file"].error("traffic file not found", seen=str(path),
                              hint="paths are relative to the scenario file")
    out: dict = {"file": str(path)}
    if "format" in k:
        out["format"] = k["format"].as_enum(FORMATS)
    if "speed" in k:
        out["speed"] = k["speed"].as_float(min=0, min_exclusive=True, max=1000)
    if "window" in k:
        out.update(_parse_window(k["window"]))
    for key in ("loop", "rewrite_host"):
        if key in k:
            out[key] = k[key].as_bool()
    if "max_rate" in k:
        out["max_rate"] = k["max_rate"].as_float(min=0, min_exclusive=True, max=1_000_000)
    for key in ("keep_headers", "drop_headers"):
        if key in k:
            out[key] = tuple(_header_name(n) for n in k[key].as_list(allow_single=True))
    if "templates" in k:
        out["templates"] = tuple(_parse_template(t) for t in k["templates"].as_list())
    spec = ReplaySpec(**out)
    check_readable(spec, k["file"])
    return spec


def _parse_window(node: Node) -> dict:
    w = node.keys(("start", "end"))
    start = w["start"].as_duration() if "start" in w else 0.0
    end = w["end"].as_duration() if "end" in w else None
    if end is not None and end <= start:
        raise node.error("the window ends before it starts", seen=f"start {start:g} s, end {end:g} s",
                         hint="start and end are seconds after the log's first request, e.g. {start: 60s, end: 5m}")
    return {"window_start": start, "window_end": end}


def _header_name(node: Node) -> str:
    name = node.as_str()
    if not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name):
        raise node.error("not a valid HTTP header name", seen=repr(name))
    return name


def _parse_template(node: Node) -> tuple[str, str]:
    t = node.keys(("match", "name"), required=("match", "name"))
    pattern = t["match"].as_str()
    try:
        re.compile(pattern)
    except re.error as e:
        raise t["match"].error(f"not a regular expression: {e}", seen=repr(pattern)) from None
    return pattern, t["name"].as_str()


def check_readable(spec: ReplaySpec, node: Node) -> None:
    """At validate time: the file opens, is not binary, and has a request in its first lines."""
    try:
        source = Source(Path(spec.file), spec.format)
        found = source.first(CHECK_LINES)
    except HarnessError as e:
        raise node.error(e.what, seen=e.seen, hint=e.hint) from None
    if found is None:
        bad = source.bad_lines()
        raise node.error(f"no request in the first {min(source.bad, CHECK_LINES):,} lines (read as {source.format})",
                         seen="\n    ".join(bad) if bad else "an empty file",
                         hint="formats: combined (nginx/Apache), jsonl (ts, method, url per line), har; "
                              "set replay.format if the guess was wrong")


REPLAY_SCHEMA: dict = {
    "type": "object", "additionalProperties": False, "required": ["file"],
    "description": "replay a production traffic file on its own timing (docs/load.md, Replay)",
    "properties": {
        "file": {"type": "string", "description": "access log, JSON lines or HAR (plain or gzip)"},
        "format": {"enum": list(FORMATS), "default": "auto"},
        "speed": {"type": "number", "exclusiveMinimum": 0, "default": 1},
        "window": {"type": "object", "additionalProperties": False,
                   "properties": {"start": {}, "end": {}},
                   "description": "seconds after the log's first request"},
        "loop": {"type": "boolean", "default": False},
        "max_rate": {"type": "number", "exclusiveMinimum": 0},
        "rewrite_host": {"type": "boolean", "default": True},
        "keep_headers": {"type": "array", "items": {"type": "string"}},
        "drop_headers": {"type": "array", "items": {"type": "string"}},
        "templates": {"type": "array", "items": {
            "type": "object", "additionalProperties": False, "required": ["match", "name"],
            "properties": {"match": {"type": "string"}, "name": {"type": "string"}}}},
    },
}
