"""The `load:` section of a scenario: parsed into a frozen LoadSpec, with file:line:col errors.

Format (docs/load.md has the full reference):

    load:
      target: {service: api, port: 8080}   # or url: http://127.0.0.1:8080
      model: open                          # open | closed | replay (replay: {file, ...}: a traffic file)
      rate: 200                            # open: number, {phase: number | {from, to}}, or {from, to}
      max_inflight: 500                    # open: concurrency cap
      overflow: delay                      # open: delay | drop (what happens to arrivals at the cap)
      users: 10                            # closed
      spawn_rate: 10                       # closed
      think_time: 0s                       # closed
      timeout: 10s                         # per request
      requests:                            # or locustfile: path.py (closed model)
        - {name: work, method: GET, path: /work, weight: 3}
      raw_log: true                        # load/requests.jsonl.gz
      workers: 2                           # local worker processes (auto: one per core)
      remote_workers: 2                    # workers on other machines (docs/scaling.md)
      master: {interface: eth0, port: 5557, join_timeout: 60s}
"""
from __future__ import annotations

import ipaddress
import json
import os
import re
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

from harness.parse.context import ParseContext
from harness.parse.node import Node
from harness.traffic.spec import REPLAY_SCHEMA, ReplaySpec, parse_replay

MODELS = ("open", "closed", "replay")
OVERFLOW = ("delay", "drop")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
DEFAULT_PHASE = "default"

_TOP_KEYS = ("target", "url", "model", "rate", "max_inflight", "overflow", "users", "spawn_rate",
             "think_time", "timeout", "requests", "locustfile", "raw_log", "workers", "processes", "precision",
             "seed", "replay", "remote_workers", "master")
_MASTER_KEYS = ("interface", "port", "join_timeout")
_IFACE_NAME = re.compile(r"[A-Za-z0-9_.:@-]{1,15}")        # a Linux interface name (IFNAMSIZ - 1)
REMOTE_PORT = 5557                                         # the master's port for remote workers (Locust's)
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")   # RFC 9110 token
_REQUEST_KEYS = ("name", "method", "path", "weight", "headers", "body")


@dataclass(frozen=True)
class RateSegment:
    """The target arrival rate over one phase: constant (start == end) or a linear ramp."""
    start: float
    end: float

    def at(self, fraction: float) -> float:
        return self.start + (self.end - self.start) * min(max(fraction, 0.0), 1.0)


@dataclass(frozen=True)
class RequestSpec:
    name: str
    method: str
    path: str
    weight: float = 1.0
    headers: tuple[tuple[str, str], ...] = ()
    body: str | None = None


@dataclass(frozen=True)
class LoadSpec:
    model: str                                    # open | closed
    target_service: str | None = None
    target_port: int | None = None
    url: str | None = None
    rates: tuple[tuple[str, RateSegment], ...] = ()   # phase name ('default' for the rest) -> rate
    whole_ramp: RateSegment | None = None         # rate: {from, to} over the whole load window
    max_inflight: int = 500
    overflow: str = "delay"
    users: int = 10
    spawn_rate: float = 10.0
    think_time: float = 0.0
    timeout: float = 10.0
    requests: tuple[RequestSpec, ...] = ()
    locustfile: str | None = None
    raw_log: bool = False
    processes: int = 1             # load.workers (processes: its older name): local workers
    remote_workers: int = 0        # workers started by the user on other machines
    master_interface: str | None = None   # the master binds there (None: 127.0.0.1)
    master_port: int = 0           # 0: any free port (REMOTE_PORT with remote workers)
    join_timeout: float = 60.0     # how long the run waits for its remote workers
    publish_interface: str | None = None  # target.publish: the target also on this interface's address
    precision: int = 3                            # HdrHistogram significant digits
    seed: int | None = None
    allow_external: bool = False
    replay: ReplaySpec | None = None              # model: replay
    where: str = ""                               # file:line:col of the load: section

    @property
    def latency_basis(self) -> str:
        return "actual" if self.model == "closed" else "intended"

    def rate_for(self, phase: str) -> RateSegment | None:
        """The rate segment of a phase, or None when the spec has no rate for it."""
        table = dict(self.rates)
        return table.get(phase, table.get(DEFAULT_PHASE))

    def to_json(self) -> dict:
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_json(cls, data: dict) -> LoadSpec:
        d = dict(data)
        d["rates"] = tuple((name, RateSegment(**seg)) for name, seg in d.get("rates", ()))
        d["whole_ramp"] = RateSegment(**d["whole_ramp"]) if d.get("whole_ramp") else None
        d["replay"] = ReplaySpec.from_json(d["replay"]) if d.get("replay") else None
        d["requests"] = tuple(RequestSpec(**{**r, "headers": tuple(tuple(h) for h in r["headers"])})
                              for r in d.get("requests", ()))
        return cls(**d)


# -- target checks -----------------------------------------------------------------------------

def is_loopback_host(host: str) -> bool:
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def url_host(url: str) -> str:
    return urlsplit(url).hostname or ""


# -- parsing -----------------------------------------------------------------------------------

def parse_load(node: Node, ctx: ParseContext) -> LoadSpec:
    keys = node.keys(_TOP_KEYS)
    model = keys["model"].as_enum(MODELS) if "model" in keys else "open"
    service, port, url, publish = _parse_target(node, keys, ctx)
    fields: dict = {"model": model, "target_service": service, "target_port": port, "url": url,
                    "publish_interface": publish,
                    "allow_external": ctx.allow_external_targets, "where": str(node.mark)}
    fields.update(_parse_requests(node, keys, ctx, model))
    fields.update(_parse_model_keys(node, keys, ctx, model))
    if "timeout" in keys:
        fields["timeout"] = keys["timeout"].as_duration(min=0.001, max=3600)
    if "raw_log" in keys:
        fields["raw_log"] = keys["raw_log"].as_bool()
    if "workers" in keys or "processes" in keys:
        fields["processes"] = _parse_workers(node, keys, remote="remote_workers" in keys)
    fields.update(_parse_remote(node, keys, fields))
    if "precision" in keys:
        fields["precision"] = keys["precision"].as_int(min=1, max=4)
    if "seed" in keys:
        fields["seed"] = keys["seed"].as_int()
    return LoadSpec(**fields)


def _parse_workers(node: Node, keys: dict[str, Node], remote: bool = False) -> int:
    """load.workers: a count, or auto (the cores this process may run on); processes is its
    older name. 0 only beside remote_workers."""
    if "workers" in keys and "processes" in keys:
        raise node.error("give one of 'workers' and 'processes' (processes is the older name of workers)",
                         hint="keep workers")
    n = keys.get("workers") or keys["processes"]
    if n.value == "auto":
        return max(1, min(64, len(os.sched_getaffinity(0))))
    if isinstance(n.value, str):
        raise n.expected("an integer or auto")
    return n.as_int(min=0 if remote else 1, max=64)


def _parse_remote(node: Node, keys: dict[str, Node], fields: dict) -> dict:
    """remote_workers and master: {interface, port, join_timeout}. Remote workers must reach
    the master (on a named interface, never every address) and the target (a URL they can
    reach, or the target service published on a named interface: target.publish)."""
    out: dict = {}
    if "master" in keys:
        mkeys = keys["master"].keys(_MASTER_KEYS)
        if "interface" in mkeys:
            out["master_interface"] = _parse_interface(mkeys["interface"])
        if "port" in mkeys:
            out["master_port"] = mkeys["port"].as_int(min=1, max=65535)
        if "join_timeout" in mkeys:
            out["join_timeout"] = mkeys["join_timeout"].as_duration(min=1, max=3600)
    remote = keys["remote_workers"].as_int(min=0, max=256) if "remote_workers" in keys else 0
    if not remote:
        if fields.get("processes") == 0:
            raise keys["workers"].error("no worker would send the load", seen="workers: 0",
                                        hint="workers: 0 only beside remote_workers: N")
        return out
    out["remote_workers"] = remote
    out.setdefault("master_port", REMOTE_PORT)
    if "master_interface" not in out:
        raise keys["remote_workers"].error("remote workers cannot reach a load master on 127.0.0.1",
                                           hint="name the interface they reach this machine on: "
                                                "master: {interface: eth0}")
    if fields.get("url") and is_loopback_host(url_host(fields["url"])):
        raise keys["remote_workers"].error("remote workers cannot reach the target on this machine's loopback",
                                           seen=f"url: {fields['url']}",
                                           hint="target: {service: NAME, port: N, publish: eth0} publishes "
                                                "the service on that interface for them")
    if fields.get("target_service") and not fields.get("publish_interface"):
        raise keys["remote_workers"].error("remote workers cannot reach the target: it is published on "
                                           "127.0.0.1 only",
                                           hint="add publish: eth0 (the interface they reach this machine on) "
                                                "to load.target")
    return out


def _parse_interface(node: Node) -> str:
    """A network interface's name: checked here for its form, at run time for its address."""
    name = node.as_str().strip()
    if not _IFACE_NAME.fullmatch(name):
        raise node.error("not a network interface name", seen=repr(name)[:40],
                         hint="for example eth0 (`ip -brief addr` lists this machine's)")
    return name


def _parse_target(node: Node, keys: dict[str, Node], ctx: ParseContext):
    if ("target" in keys) == ("url" in keys):
        raise node.error("give exactly one of 'target' and 'url'",
                         seen="both" if "target" in keys else "neither",
                         hint="target: {service: api, port: 8080} for a compose service, "
                              "or url: http://127.0.0.1:8080")
    if "url" in keys:
        return None, None, _parse_url(keys["url"], ctx), None
    tkeys = keys["target"].keys(("service", "port", "publish"), required=("service", "port"))
    service, port = ctx.check_service(tkeys["service"]), tkeys["port"].as_int(min=1, max=65535)
    published = (ctx.ports or {}).get(service)
    if ctx.ports is not None and port not in (published or ()):
        raise tkeys["port"].error(f"port {port} of '{service}' is not published",
                                  seen=f"services.{service}.ports: {list(published or ())}",
                                  hint=f"add {port} to services.{service}.ports in the scenario (the harness "
                                       "publishes those on 127.0.0.1 for the load)")
    return service, port, None, _parse_interface(tkeys["publish"]) if "publish" in tkeys else None


def _parse_url(node: Node, ctx: ParseContext) -> str:
    url = node.as_str().strip()
    try:
        parts = urlsplit(url)
    except ValueError as e:                 # 'http://[::1': an unclosed IPv6 bracket
        raise node.error(f"not a URL: {e}", seen=repr(url)[:80],
                         hint="for example url: http://127.0.0.1:8080 or http://[::1]:8080") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise node.error("expected an http:// or https:// URL with a host",
                         seen=repr(url), hint="for example url: http://127.0.0.1:8080")
    try:
        _ = parts.port
    except ValueError:
        raise node.error("the URL's port is not a number from 1 to 65535",
                         seen=repr(url)) from None
    if not is_loopback_host(parts.hostname) and not ctx.allow_external_targets:
        raise node.error("load may only target loopback addresses or the "
                         "environment's own services", seen=f"host {parts.hostname!r}",
                         hint="point it at 127.0.0.1 or use target: {service, port}; to load "
                              "another host on purpose, set allow_external_targets: true at the "
                              "top of the scenario")
    return url.rstrip("/")


def _parse_requests(node: Node, keys: dict[str, Node], ctx: ParseContext, model: str) -> dict:
    if model == "replay":
        return _parse_replay_source(node, keys, ctx)
    if "replay" in keys:
        raise keys["replay"].error("only applies to model: replay", seen=f"model: {model}",
                                   hint="set model: replay to send a traffic file's requests on its timing")
    if ("requests" in keys) == ("locustfile" in keys):
        raise node.error("give exactly one of 'requests' and 'locustfile'",
                         seen="both" if "requests" in keys else "neither",
                         hint="requests: [{path: /work}] for simple HTTP requests, or "
                              "locustfile: load.py for your own Locust users")
    if "locustfile" in keys:
        lnode = keys["locustfile"]
        if model == "open":
            raise lnode.error("a locustfile runs in the closed model only",
                              seen="model: open",
                              hint="set model: closed, or declare requests: for the open model")
        path = ctx.resolve(lnode)
        if not path.is_file():
            raise lnode.error("file not found", seen=str(path),
                              hint="paths are relative to the scenario file")
        return {"locustfile": str(path)}
    items = keys["requests"].as_list()
    if not items:
        raise keys["requests"].error("the list is empty",
                                     hint="add at least one request, e.g. - {path: /}")
    reqs = tuple(_parse_request(item) for item in items)
    keys = [(r.method, r.name) for r in reqs]
    for item, req in zip(items, reqs):
        if keys.count((req.method, req.name)) > 1:
            raise item.error(f"two {req.method} requests are named '{req.name}'",
                             hint="give each request its own name: (statistics are kept per method and name)")
    return {"requests": reqs}


def _parse_replay_source(node: Node, keys: dict[str, Node], ctx: ParseContext) -> dict:
    for key in ("requests", "locustfile", "rate"):
        if key in keys:
            raise keys[key].error("the replay model sends the traffic file's requests at its times",
                                  seen=f"'{key}' with model: replay",
                                  hint=f"remove '{key}' (speed, window and max_rate under replay: shape the load)")
    if "replay" not in keys:
        raise node.error("model: replay needs 'replay' (the traffic file)",
                         hint="replay: {file: access.log}; `harness traffic FILE --scenario` prints one")
    return {"replay": parse_replay(keys["replay"], ctx)}


def _parse_request(node: Node) -> RequestSpec:
    k = node.keys(_REQUEST_KEYS, required=("path",))
    path = k["path"].as_str()
    if not path.startswith("/"):
        raise k["path"].error("the path must start with '/'", seen=repr(path),
                              hint="the target's base URL comes from load.target or load.url")
    method = k["method"].as_str().upper() if "method" in k else "GET"
    if method not in METHODS:
        raise k["method"].error("unknown HTTP method", seen=repr(method),
                                hint=f"use one of {', '.join(METHODS)}")
    # The name is the statistics' label beside the method (Locust's convention): the path by
    # default, never the method again (the report shows "GET /work", not "GET GET /work").
    name = k["name"].as_str() if "name" in k else path
    weight = k["weight"].as_float(min=0, min_exclusive=True) if "weight" in k else 1.0
    headers: tuple[tuple[str, str], ...] = ()
    if "headers" in k:
        pairs = []
        for hk, hv in k["headers"].as_map().items():
            if not isinstance(hv.value, (str, int, float)) or isinstance(hv.value, bool):
                raise hv.expected("a string header value")
            if not _HEADER_NAME.fullmatch(hk):
                raise hv.error("not a valid HTTP header name", seen=repr(hk),
                               hint="letters, digits and !#$%&'*+-.^_`|~ only")
            if any(ch in str(hv.value) for ch in "\r\n\0"):
                raise hv.error("a header value may not hold a line break or NUL", seen=repr(str(hv.value)),
                               hint="one header a key; the line breaks would end the request early")
            pairs.append((hk, str(hv.value)))
        headers = tuple(pairs)
    return RequestSpec(name=name, method=method, path=path, weight=weight, headers=headers,
                       body=_parse_body(k.get("body")))


def _parse_body(node: Node | None) -> str | None:
    if node is None or node.value is None:
        return None
    if isinstance(node.value, str):
        return node.value
    if isinstance(node.value, (dict, list)):
        try:
            return json.dumps(node.value, allow_nan=False)
        except (TypeError, ValueError) as e:    # a date, binary data, NaN: JSON has none of them
            raise node.error("the body cannot be sent as JSON", seen=str(e),
                             hint="quote dates (\"2001-01-01\"), use finite numbers, or give the body "
                                  "as a string") from None
    raise node.expected("a string, or a mapping/list sent as JSON")


def _parse_model_keys(node: Node, keys: dict[str, Node], ctx: ParseContext, model: str) -> dict:
    open_keys, closed_keys = ("rate", "max_inflight", "overflow"), ("users", "spawn_rate", "think_time")
    wrong = open_keys if model == "closed" else closed_keys
    for key in wrong:
        if key in keys:
            raise _wrong_model_key(keys[key], key, model)
    if model == "replay":
        return _parse_cap(keys)
    if model == "closed":
        out = {}
        if "users" in keys:
            out["users"] = keys["users"].as_int(min=1, max=100000)
        if "spawn_rate" in keys:
            out["spawn_rate"] = keys["spawn_rate"].as_float(min=0, min_exclusive=True)
        if "think_time" in keys:
            out["think_time"] = keys["think_time"].as_duration(max=3600)
        return out
    if "rate" not in keys:
        raise node.error("the open model needs 'rate' (target requests per second)",
                         hint="e.g. rate: 200, or per phase: rate: {baseline: 100, fault: 200}")
    return {**_parse_rate(keys["rate"], ctx), **_parse_cap(keys)}


def _parse_cap(keys: dict[str, Node]) -> dict:
    out = {}
    if "max_inflight" in keys:
        out["max_inflight"] = keys["max_inflight"].as_int(min=1, max=100000)
    if "overflow" in keys:
        out["overflow"] = keys["overflow"].as_enum(OVERFLOW)
    return out


def _wrong_model_key(node: Node, key: str, model: str):
    other = "closed" if key in ("users", "spawn_rate", "think_time") else "open"
    return node.error(f"only applies to the {other} model", seen=f"model: {model}",
                      hint=f"remove '{key}', or set model: {other}")


def _parse_rate(node: Node, ctx: ParseContext) -> dict:
    if not node.is_map():
        value = node.as_float(min=0, max=1_000_000)
        return {"rates": ((DEFAULT_PHASE, RateSegment(value, value)),)}
    children = node.as_map()
    if set(children) <= {"from", "to"} and "from" not in ctx.phase_names:
        return {"whole_ramp": _parse_ramp(node)}
    allowed = list(ctx.phase_names) + [DEFAULT_PHASE]
    table = node.keys(allowed)
    missing = [p for p in ctx.phase_names if p not in table]
    if missing and DEFAULT_PHASE not in table:
        raise node.error(f"no rate for phase(s) {', '.join(missing)}",
                         hint="give every phase a rate (0 for none), or add default: <rate>")
    rates = []
    for name, child in table.items():
        if child.is_map():
            rates.append((name, _parse_ramp(child)))
        else:
            v = child.as_float(min=0, max=1_000_000)
            rates.append((name, RateSegment(v, v)))
    return {"rates": tuple(rates)}


def _parse_ramp(node: Node) -> RateSegment:
    k = node.keys(("from", "to"), required=("from", "to"))
    return RateSegment(k["from"].as_float(min=0, max=1_000_000), k["to"].as_float(min=0, max=1_000_000))


# -- JSON Schema -------------------------------------------------------------------------------

_RATE_NUMBER = {"type": "number", "minimum": 0, "description": "requests per second"}
_RAMP = {"type": "object", "additionalProperties": False, "required": ["from", "to"],
         "properties": {"from": _RATE_NUMBER, "to": _RATE_NUMBER},
         "description": "a linear ramp over the phase (or over the whole load window at top level)"}
_DURATION = {"oneOf": [{"type": "number", "minimum": 0},
                       {"type": "string", "pattern": r"^(\d+(\.\d+)?(us|ms|s|m|h))+$"}]}

LOAD_SCHEMA: dict = {
    "type": "object",
    "description": "Load generated with Locust in a child process (docs/load.md).",
    "additionalProperties": False,
    "properties": {
        "target": {"type": "object", "additionalProperties": False, "required": ["service", "port"],
                   "properties": {"service": {"type": "string"},
                                  "port": {"type": "integer", "minimum": 1, "maximum": 65535},
                                  "publish": {"type": "string", "description": "also publish the port on this "
                                              "interface's address, for remote workers (default: 127.0.0.1 only)"}},
                   "description": "a compose service and its container port (published on 127.0.0.1)"},
        "url": {"type": "string", "pattern": "^https?://",
                "description": "base URL; loopback only unless allow_external_targets: true"},
        "model": {"enum": list(MODELS), "default": "open"},
        "rate": {"oneOf": [_RATE_NUMBER, _RAMP,
                           {"type": "object", "additionalProperties": {"oneOf": [_RATE_NUMBER, _RAMP]},
                            "description": "per phase name (or 'default')"}]},
        "max_inflight": {"type": "integer", "minimum": 1, "default": 500},
        "overflow": {"enum": list(OVERFLOW), "default": "delay"},
        "users": {"type": "integer", "minimum": 1, "default": 10},
        "spawn_rate": {"type": "number", "exclusiveMinimum": 0, "default": 10},
        "think_time": _DURATION,
        "timeout": _DURATION,
        "requests": {"type": "array", "minItems": 1, "items": {
            "type": "object", "additionalProperties": False, "required": ["path"],
            "properties": {"name": {"type": "string"}, "method": {"enum": list(METHODS)},
                           "path": {"type": "string", "pattern": "^/"},
                           "weight": {"type": "number", "exclusiveMinimum": 0},
                           "headers": {"type": "object", "additionalProperties": {"type": ["string", "number"]}},
                           "body": {"type": ["string", "object", "array", "null"]}}}},
        "locustfile": {"type": "string", "description": "path to a locustfile (closed model)"},
        "raw_log": {"type": "boolean", "default": False},
        "workers": {"oneOf": [{"type": "integer", "minimum": 0, "maximum": 64}, {"const": "auto"}], "default": 1,
                    "description": "local worker processes sharing the load (auto: one per core this machine "
                                   "gives the harness; 0 only beside remote_workers)"},
        "remote_workers": {"type": "integer", "minimum": 0, "maximum": 256, "default": 0,
                           "description": "workers started on other machines (`harness worker --master HOST:PORT`); "
                                          "the run waits for them (docs/scaling.md)"},
        "master": {"type": "object", "additionalProperties": False, "properties": {
            "interface": {"type": "string", "description": "the load master binds to this interface's address "
                                                           "(default: 127.0.0.1)"},
            "port": {"type": "integer", "minimum": 1, "maximum": 65535,
                     "description": "default 5557 with remote workers, else any free port"},
            "join_timeout": _DURATION}, "description": "where remote workers join the run"},
        "processes": {"type": "integer", "minimum": 1, "maximum": 64,
                      "description": "the older name of workers"},
        "precision": {"type": "integer", "minimum": 1, "maximum": 4, "default": 3},
        "seed": {"type": "integer"},
        "replay": REPLAY_SCHEMA,
    },
    "oneOf": [{"required": ["target"]}, {"required": ["url"]}],
}

