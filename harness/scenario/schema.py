"""The JSON Schema of scenario files (`harness schema`), for editors.

The envelope is described here; each section's schema comes from the part that
parses it, so the two cannot drift apart.
"""
from __future__ import annotations

from harness.capture.sections import captures_schema
from harness.faults.spec import fault_schema
from harness.judge.expect import EXPECT_SCHEMA
from harness.judge.production import SCHEMA as PRODUCTION_SCHEMA
from harness.load.spec import LOAD_SCHEMA

DURATION = {"description": "seconds, or a duration like 500ms, 30s, 2m, 1m30s",
            "anyOf": [{"type": "number", "minimum": 0},
                      {"type": "string", "pattern": r"^(\d+(\.\d+)?(us|ms|s|m|h))+$"}]}
SIZE = {"description": "bytes, or a size like 512k, 256m, 256MiB, 1g (binary units)",
        "anyOf": [{"type": "integer", "minimum": 0},
                  {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*([kmgtKMGT]i?[bB]?)?\s*$"}]}
PORT = {"type": "integer", "minimum": 1, "maximum": 65535}


NAME = {"type": "string", "pattern": "^[a-z0-9][a-z0-9_.-]{0,62}$"}


def scenario_schema() -> dict:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://harness.invalid/scenario.schema.json",
        "title": "harness scenario",
        "type": "object",
        "additionalProperties": False,
        "required": ["name", "compose", "load"],
        "properties": {
            "name": NAME,
            "description": {"type": "string"},
            "compose": _compose(),
            "prepare": {"type": "array", "items": _prepare_step()},
            "services": {"type": "object", "additionalProperties": _service()},
            "load": LOAD_SCHEMA,
            "phases": {"type": "array", "minItems": 1, "items": _phase()},
            "duration": DURATION,
            "warmup": DURATION,
            "baseline": {"type": "string"},
            "captures": captures_schema(),
            "expect": EXPECT_SCHEMA,
            "production": PRODUCTION_SCHEMA,
            "runs_dir": {"type": "string"},
            "docker": {"type": "object", "additionalProperties": False, "maxProperties": 1,
                       "properties": {"host": {"type": "string", "pattern": "^(unix|tcp)://"},
                                      "context": {"type": "string"}},
                       "description": "the Docker engine (default: $DOCKER_HOST, $DOCKER_CONTEXT or the local "
                                      "socket; --docker-host and $HARNESS_DOCKER_HOST win)"},
            "allow_external_targets": {"type": "boolean"},
        },
    }


def _compose() -> dict:
    files = {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
    return {"anyOf": [*files["anyOf"],
                      {"type": "object", "additionalProperties": False, "required": ["files"],
                       "properties": {"files": files, "project_dir": {"type": "string"}}}]}


def _prepare_step() -> dict:
    argv = {"type": "array", "items": {"type": ["string", "number"]}, "minItems": 1}
    env = {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}}
    return {"anyOf": [argv, {"type": "object", "additionalProperties": False, "required": ["cmd"],
                             "properties": {"cmd": argv, "cwd": {"type": "string"}, "timeout": DURATION,
                                            "env": env}}]}


def _service() -> dict:
    limits = {"type": "object", "additionalProperties": False, "properties": {
        "memory": SIZE, "memory_swap": {"anyOf": [SIZE, {"const": -1}]},
        "cpus": {"type": "number", "exclusiveMinimum": 0}, "cpuset": {"type": ["string", "integer"]},
        "pids": {"type": "integer", "minimum": 1}}}
    pprof = {"type": "object", "additionalProperties": False, "required": ["port"],
             "properties": {"port": PORT, "path": {"type": "string"}}}
    ready = {"type": "object", "additionalProperties": False, "properties": {
        "http": {"type": "string", "pattern": "^/"}, "port": PORT, "timeout": DURATION, "interval": DURATION}}
    return {"type": ["object", "null"], "additionalProperties": False, "properties": {
        "limits": limits,
        "ports": {"anyOf": [PORT, {"type": "array", "items": PORT}],
                  "description": "container ports published on 127.0.0.1 only"},
        "pprof": {"anyOf": [{"type": "boolean"}, PORT, pprof]},
        "ready": ready,
        "source": {"type": "string", "description": "Go source root (default: the build context)"},
        "cap_add": {"type": "array", "items": {"type": "string"}}}}


def _phase() -> dict:
    return {"type": "object", "additionalProperties": False, "required": ["name", "duration"],
            "properties": {"name": NAME, "duration": DURATION, "start": DURATION,
                           "faults": {"type": "array", "items": fault_schema()}}}
