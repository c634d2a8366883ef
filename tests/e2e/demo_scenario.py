"""Scenario files on the demo service for the end-to-end tests: one builder, the parts that
differ between tests as parameters."""
from __future__ import annotations

from pathlib import Path

from tests.env.conftest import DEMO, DEMO_PREPARE

WORK_AND_FETCH = """    - {name: work, method: GET, path: "/work?n=2000000", weight: 3}
    - {name: fetch, method: GET, path: /fetch, weight: 1}"""

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
             expect: str = "", rate: int = 40, requests: str = WORK_AND_FETCH, store: str = STORE,
             captures: str = CAPTURES) -> Path:
    """`name`.yaml in tmp_path: the API under 128 MiB and one CPU, open-model load on it."""
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
  model: open
  rate: {rate}
  requests:
{requests}
{phases}
captures:
{captures}
{expect}
"""
    p = tmp_path / f"{name}.yaml"
    p.write_text(text)
    return p
