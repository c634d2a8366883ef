"""Parsing one fault entry: envelope first, then the kind's parameters; errors name file:line."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.errors import ScenarioError
from harness.faults.spec import FaultSpec, Peer, fault_schema, parse_fault
from harness.parse.context import ParseContext
from harness.parse.node import load_yaml


def ctx(external=False):
    return ParseContext(file="s.yaml", scenario_dir=Path("."), services=("api", "db", "cache"),
                        phase_names=("main",), allow_external_targets=external)


def parse(text: str, **kw) -> FaultSpec:
    return parse_fault(load_yaml(text, "s.yaml"), ctx(**kw))


def error(text: str, **kw) -> ScenarioError:
    with pytest.raises(ScenarioError) as e:
        parse(text, **kw)
    return e.value


def test_delay_with_peer_service_and_port():
    s = parse("kind: delay\ntarget: api\npeer: {service: db, port: 5432}\nlatency: 100ms\njitter: 20ms\n")
    assert s == FaultSpec(id="delay-L1", kind="delay", target="api", peer=Peer(service="db", port=5432),
                          params={"latency": 0.1, "jitter": 0.02, "distribution": "uniform", "correlation": 0.0},
                          direction="egress", where="s.yaml:1:1")
    assert s.to_json()["peer"] == {"service": "db", "port": 5432, "protocol": "tcp"}
    assert FaultSpec.from_json(s.to_json()).params == s.params


@pytest.mark.parametrize("text,expected", [
    ("kind: loss\ntarget: api\npercent: 20\n", {"percent": 20.0, "correlation": 0.0}),
    ("kind: loss\ntarget: api\nevery_nth: 5\n", {"every_nth": 5, "correlation": 0.0}),
    ("kind: rate\ntarget: api\nrate: 1mbit\ndirection: ingress\n", {"rate": 1_000_000, "burst": 0, "queue": 1.0}),
    ("kind: rate\ntarget: api\nrate: 125kbps\n", {"rate": 1_000_000, "burst": 0, "queue": 1.0}),
    ("kind: memory\ntarget: api\nlimit: 64m\n", {"limit": 64 << 20, "swap": 0}),
    ("kind: kill\ntarget: api\nsignal: term\n", {"signal": "SIGTERM", "restore": False}),
    ("kind: cpuset\ntarget: api\ncpus: 0-1\n", {"cpus": "0-1"}),
    ("kind: partition\ntarget: api\npeer: db\n", {}),
], ids=["loss%", "nth", "rate-in", "rate-bytes", "memory", "kill", "cpuset", "partition"])
def test_kinds_parse(text, expected):
    assert parse(text).params == expected


def test_partition_defaults_to_both_directions_and_peer_port_is_own_port():
    s = parse("kind: partition\ntarget: api\npeer: 8080\n")
    assert s.direction == "both" and s.peer == Peer(port=8080) and s.peer.own_port


def test_unknown_kind_lists_valid_kinds():
    e = error("kind: dely\ntarget: api\n")
    assert e.where == "s.yaml:1:7" and "unknown fault kind 'dely'" in e.what
    assert "delay, duplicate" in e.seen and e.hint == "did you mean 'delay'?"


def test_unknown_parameter_names_the_line():
    e = error("kind: delay\ntarget: api\nlatency: 1s\nlatncy: 2s\n")
    assert e.where == "s.yaml:4:1" and "unknown key 'latncy'" in e.what


def test_range_checks():
    assert "must be at most 100" in error("kind: loss\ntarget: api\npercent: 120\n").what
    e = error("kind: delay\ntarget: api\nlatency: 10ms\njitter: 20ms\n")
    assert e.where == "s.yaml:4:9" and "must not exceed latency" in e.what
    assert "exactly one of" in error("kind: loss\ntarget: api\npercent: 2\nevery_nth: 3\n").what
    assert "8kbit" in error("kind: rate\ntarget: api\nrate: 10bit\n").what


def test_backend_that_cannot_do_the_fault_names_the_alternative():
    e = error("kind: loss\ntarget: api\nevery_nth: 4\nbackend: netem\n")
    assert "netem has no every-nth loss" in e.seen and e.hint == "use backend: iptables"


def test_peer_must_be_own_service_or_loopback():
    e = error("kind: loss\ntarget: api\npercent: 1\npeer: {ip: 10.1.2.3}\n")
    assert "loopback or the project's own services" in e.what and "allow_external_targets" in e.hint
    assert parse("kind: loss\ntarget: api\npercent: 1\npeer: {ip: 10.1.2.3}\n", external=True).peer.ip == "10.1.2.3"
    assert parse("kind: loss\ntarget: api\npercent: 1\npeer: {ip: 127.0.0.1, port: 6379}\n").peer.port == 6379
    assert "unknown service 'dbx'" in error("kind: loss\ntarget: api\npercent: 1\npeer: dbx\n").what
    assert "the target itself" in error("kind: loss\ntarget: api\npercent: 1\npeer: api\n").what


def test_resource_kinds_take_no_peer():
    assert "unknown key 'peer'" in error("kind: pause\ntarget: api\npeer: db\n").what


def test_schema_has_one_variant_per_kind():
    FAULT_SCHEMA = fault_schema()
    text = json.dumps(FAULT_SCHEMA)
    kinds = {v["properties"]["kind"]["const"] for v in FAULT_SCHEMA["oneOf"]}
    assert {"delay", "loss", "rate", "partition", "reset", "pause", "memory", "cpu_pressure"} <= kinds
    delay = next(v for v in FAULT_SCHEMA["oneOf"] if v["properties"]["kind"]["const"] == "delay")
    assert delay["required"] == ["kind", "target", "latency"] and "peer" in delay["properties"]
    assert "peer" not in next(v for v in FAULT_SCHEMA["oneOf"]
                              if v["properties"]["kind"]["const"] == "pause")["properties"]
    assert len(text) > 1000
