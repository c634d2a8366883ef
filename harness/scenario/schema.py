"""The JSON Schema of scenario files (`harness schema`), for editors.

The envelope is described here; each section's schema comes from the part that
parses it, so the two cannot drift apart.
"""
from __future__ import annotations

DURATION = {"description": "seconds, or a duration like 500ms, 30s, 2m, 1m30s",
            "anyOf": [{"type": "number", "minimum": 0},
                      {"type": "string", "pattern": r"^(\d+(\.\d+)?(us|ms|s|m|h))+$"}]}
SIZE = {"description": "bytes, or a size like 512k, 256m, 256MiB, 1g (binary units)",
        "anyOf": [{"type": "integer", "minimum": 0},
                  {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*([kmgtKMGT]i?[bB]?)?\s*$"}]}
PORT = {"type": "integer", "minimum": 1, "maximum": 65535}


def scenario_schema() -> dict:
    # Each part owns its section's schema; imported here, not at module level, so that
    # loading a scenario does not load the parts' schemas.
    from harness.capture.spec import CAPTURES_SCHEMA
    from harness.faults.spec import FAULT_SCHEMA
    from harness.load.spec import LOAD_SCHEMA
    from harness.report.expect import EXPECT_SCHEMA

    limits = {"type": "object", "additionalProperties": False, "properties": {
        "memory": SIZE, "memory_swap": {"anyOf": [SIZE, {"const": -1}]},
        "cpus": {"type": "number", "exclusiveMinimum": 0}, "cpuset": {"type": ["string", "integer"]},
        "pids": {"type": "integer", "minimum": 1}}}
    service = {"type": ["object", "null"], "additionalProperties": False, "properties": {
        "limits": limits,
        "ports": {"anyOf": [PORT, {"type": "array", "items": PORT}],
                  "description": "container ports published on 127.0.0.1 only"},
        "pprof": {"anyOf": [{"type": "boolean"}, PORT, {"type": "object", "additionalProperties": False,
                                                         "required": ["port"],
                                                         "properties": {"port": PORT, "path": {"type": "string"}}}]},
        "ready": {"type": "object", "additionalProperties": False, "properties": {
            "http": {"type": "string", "pattern": "^/"}, "port": PORT, "timeout": DURATION, "interval": DURATION}},
        "source": {"type": "string", "description": "Go source root (default: the build context)"},
        "cap_add": {"type": "array", "items": {"type": "string"}}}}
    fault = FAULT_SCHEMA
    phase = {"type": "object", "additionalProperties": False, "required": ["name", "duration"],
             "properties": {"name": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_.-]{0,62}$"},
                            "duration": DURATION, "start": DURATION,
                            "faults": {"type": "array", "items": fault}}}
    step = {"anyOf": [{"type": "array", "items": {"type": ["string", "number"]}, "minItems": 1},
                      {"type": "object", "additionalProperties": False, "required": ["cmd"], "properties": {
                          "cmd": {"type": "array", "items": {"type": ["string", "number"]}, "minItems": 1},
                          "cwd": {"type": "string"}, "timeout": DURATION,
                          "env": {"type": "object", "additionalProperties": {"type": ["string", "number",
                                                                                      "boolean"]}}}}]}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://harness.invalid/scenario.schema.json",
        "title": "harness scenario",
        "type": "object",
        "additionalProperties": False,
        "required": ["name", "compose", "load"],
        "properties": {
            "name": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_.-]{0,62}$"},
            "description": {"type": "string"},
            "compose": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}},
                                  {"type": "object", "additionalProperties": False, "required": ["files"],
                                   "properties": {"files": {"anyOf": [{"type": "string"},
                                                                      {"type": "array",
                                                                       "items": {"type": "string"}}]},
                                                  "project_dir": {"type": "string"}}}]},
            "prepare": {"type": "array", "items": step},
            "services": {"type": "object", "additionalProperties": service},
            "load": LOAD_SCHEMA,
            "phases": {"type": "array", "minItems": 1, "items": phase},
            "duration": DURATION,
            "warmup": DURATION,
            "baseline": {"type": "string"},
            "captures": CAPTURES_SCHEMA,
            "expect": EXPECT_SCHEMA,
            "runs_dir": {"type": "string"},
            "allow_external_targets": {"type": "boolean"},
        },
    }
