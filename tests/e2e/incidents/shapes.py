"""Incident shapes on the shop fixture (tests/e2e/incidents/shop): one scenario per shape, a
baseline, the incident and an after phase, and what the verdict must say about the incident.

Each shape's load and fault are sized so that its signal is far above the verdict's
thresholds (harness/judge/verdict.py THRESHOLDS) on a shared 2-core machine:
  pool     60 req/s into a pool of 4 backend slots; the backend gets 100 ms slower: the pool
           serves 40 req/s, the rest queue at the pool (hundreds of goroutines blocked)
  cpu      40 req/s of /render; the backend refuses connections: every page is computed
           (16 MiB of crc64, ~11 ms of CPU): ~0.45 cores from ~0.02
  garbage  40 req/s of /report under 64 MiB; the backend refuses: 4 MiB of garbage per request
  quota    30 req/s of 16 MiB work (~0.3 cores) with the quota squeezed from 1 to 0.2 CPUs
  leak     40 req/s of /notify; the backend gets 100 ms slower than the 20 ms the handler
           waits: every request leaves a goroutine blocked forever (~300 in 8 s)
  clean    40 req/s of /ping, no fault
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SHOP = Path(__file__).resolve().parent / "shop"


@dataclass(frozen=True)
class Shape:
    name: str
    request: str              # one request line of load.requests
    rate: int
    fault: str | None         # one entry of the incident phase's faults
    kind: str                 # the verdict's first finding for the incident phase
    culprit: str | None       # the `// culprit:<name>` marker of the planted line
    profile: str | None       # the profile kind that must hold the culprit
    memory: str = "128m"


DELAY_BACKEND = "{kind: delay, target: backend, direction: ingress, latency: 100ms}"
REFUSE_BACKEND = "{kind: reset, target: app, peer: {service: backend, port: 8080}}"

SHAPES = {s.name: s for s in (
    Shape("pool", "/checkout", 60, DELAY_BACKEND, "waiting", "pool", "block"),
    Shape("cpu", "/render", 40, REFUSE_BACKEND, "burning", "cpu", "cpu"),
    Shape("garbage", "/report", 40, REFUSE_BACKEND, "garbage", "alloc", "allocs", memory="64m"),
    Shape("quota", "/work?n=16777216", 30, "{kind: cpu, target: app, cpus: 0.2}", "squeezed", "quota", "cpu"),
    Shape("leak", "/notify", 40, DELAY_BACKEND, "leak", "leak", "goroutine"),
    Shape("clean", "/ping", 40, None, "no-change", None, None),
)}


def culprit_line(marker: str) -> int:
    """The 1-based line of `// culprit:<marker>` in the fixture."""
    return next(i for i, line in enumerate((SHOP / "main.go").read_text().splitlines(), 1)
                if line.rstrip().endswith(f"// culprit:{marker}"))


def scenario(tmp_path: Path, shape: Shape, name: str | None = None, more: str = "") -> Path:
    """The shape's scenario; `more` is appended as is (phases after the three, further sections)."""
    name = name or f"incident-{shape.name}"
    faults = f"\n    faults:\n      - {shape.fault}" if shape.fault else ""
    text = f"""\
name: {name}
compose: {SHOP / 'docker-compose.yml'}
prepare:
  - cmd: [go, build, -o, shop, .]
    cwd: {SHOP}
    env: {{CGO_ENABLED: "0", GOFLAGS: -buildvcs=false}}
services:
  app:
    limits: {{memory: {shape.memory}, cpus: 1.0}}
    ports: [8080]
    pprof: {{port: 6060}}
    ready: {{http: /healthz, timeout: 60s}}
load:
  target: {{service: app, port: 8080}}
  model: open
  rate: {shape.rate}
  max_inflight: 1000
  requests:
    - {{name: {shape.name}, method: GET, path: "{shape.request}"}}
phases:
  - {{name: baseline, duration: 8s}}
  - name: incident
    duration: 8s{faults}
  - {{name: after, duration: 6s}}
{more}captures:
  pprof: [cpu, heap, allocs, goroutine, block, mutex]
  services: [app]
  rates: {{url: /debug/harness/rates, block: 10000, mutex: 5}}
"""
    p = tmp_path / f"{name}.yaml"
    p.write_text(text)
    return p
