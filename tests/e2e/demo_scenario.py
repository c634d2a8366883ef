"""Scenario files on the demo service for the end-to-end tests: one builder, the parts that
differ between tests as parameters."""
from __future__ import annotations

from pathlib import Path

from tests.env.conftest import DEMO, DEMO_PREPARE


def work_and(n: int = 2_000_000, other: str = "fetch") -> str:
    """Requests: three of /work hashing n bytes (about 0.7 ms of CPU per MB) to one of /<other>."""
    return f"""    - {{name: work, method: GET, path: "/work?n={n}", weight: 3}}
    - {{name: {other}, method: GET, path: /{other}, weight: 1}}"""


WORK_AND_FETCH = work_and()
# For tests that read a CPU profile's lines: at 30 /work requests a second, 32 MB each keep
# the API about 60% busy, so a 5 s CPU window holds some 300 samples (100 Hz).
BUSY_WORK_AND_FETCH = work_and(32_000_000)

STORE = """  store:
    limits: {memory: 48m}
"""

CAPTURES = "  pprof: [cpu, heap, allocs, goroutine]"


def hot_line() -> int:
    """The 1-based line of the demo's planted hot spot (marked `// hot line` in main.go)."""
    return next(i for i, line in enumerate((DEMO / "main.go").read_text().splitlines(), 1)
                if "// hot line" in line)


def slow_store(baseline_s: int, slow_s: int) -> str:
    """Phases: a baseline, then a 100 ms delay on everything the store receives."""
    return f"""phases:
  - {{name: baseline, duration: {baseline_s}s}}
  - name: slow
    duration: {slow_s}s
    faults:
      - {{kind: delay, target: store, direction: ingress, latency: 100ms}}"""


def scenario(tmp_path: Path, *, phases: str, name: str = "e2e", ready: str = "{http: /healthz, timeout: 60s}",
             expect: str = "", rate: int | str = 40, requests: str = WORK_AND_FETCH, store: str = STORE,
             captures: str = CAPTURES, model: str | None = None) -> Path:
    """`name`.yaml in tmp_path: the API under 128 MiB and one CPU, open-model load on it (or
    `model`: the load's lines after its target, e.g. a closed model with a locustfile)."""
    model = model or f"  model: open\n  rate: {rate}\n  requests:\n{requests}"
    text = f"""\
name: {name}
compose: {DEMO / 'docker-compose.yml'}
{DEMO_PREPARE}services:
  api:
    limits: {{memory: 128m, cpus: 1.0}}
    ports: [8080]
    pprof: {{port: 6060}}
    ready: {ready}
{store}load:
  target: {{service: api, port: 8080}}
{model}
{phases}
captures:
{captures}
{expect}
"""
    p = tmp_path / f"{name}.yaml"
    p.write_text(text)
    return p
