"""The harness's own start-up overhead, against doing the same steps by hand.

Measures, on the demo service, the time from the command to the first request:
  harness:   `harness run` (prepare, build, up, readiness, captures, load workers)
  reference: `go build` + `<compose> up -d --build` + polling /healthz + a plain
             headless Locust run (FastHttpUser), until its first request is sent
and prints both and their ratio. Run: .venv/bin/python benchmarks/bench_overhead.py [--repeat N]
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.env.conftest import DEMO, DEMO_PREPARE  # noqa: E402  (the tests' demo build step)

BIN = Path(sys.executable).parent

SCENARIO = f"""\
name: overhead
compose: {DEMO / 'docker-compose.yml'}
{DEMO_PREPARE}services:
  api:
    ports: [8080]
    pprof: {{port: 6060}}
    ready: {{http: /healthz, timeout: 60s}}
load:
  target: {{service: api, port: 8080}}
  model: open
  rate: 20
  raw_log: true
  requests: [{{name: work, method: GET, path: /work}}]
duration: 3s
captures:
  pprof: [cpu]
"""

LOCUSTFILE = """\
import os, time
from locust import FastHttpUser, task, events, constant

_first = []

@events.request.add_listener
def _on_request(**kw):
    if not _first:
        _first.append(time.monotonic() - kw["response_time"] / 1000.0)
        with open(os.environ["FIRST_FILE"], "w") as f:
            f.write(repr(_first[0]))

class Demo(FastHttpUser):
    wait_time = constant(0.05)
    @task
    def work(self):
        self.client.get("/work")
"""


def harness_once(tmp: Path) -> float:
    sc = tmp / "overhead.yaml"
    sc.write_text(SCENARIO)
    runs = tmp / "runs"
    t0 = time.monotonic()
    subprocess.run([str(BIN / "harness"), "run", str(sc), "--runs-dir", str(runs), "--quiet", "--no-report"],
                   check=True, timeout=600, capture_output=True)
    run_dir = next(runs.iterdir())
    manifest = json.loads((run_dir / "manifest.json").read_text())
    with gzip.open(run_dir / "load" / "requests.jsonl.gz", "rt") as f:
        first_s = min(json.loads(line)["sent_s"] for line in f if line.strip())
    return manifest["clock"]["mono_t0"] + first_s - t0


def compose_cmd() -> list[str]:
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    return ["docker-compose"]


def reference_once(tmp: Path) -> float:
    project = f"hbenchref{os.getpid()}"
    override = tmp / "ref-override.yml"
    override.write_text('version: "3.7"\nservices:\n  api:\n    ports: ["127.0.0.1::8080"]\n')
    base = [*compose_cmd(), "-p", project, "-f", str(DEMO / "docker-compose.yml"), "-f", str(override)]
    lf = tmp / "locustfile.py"
    lf.write_text(LOCUSTFILE)
    first_file = tmp / "first.txt"
    first_file.unlink(missing_ok=True)
    t0 = time.monotonic()
    try:
        subprocess.run([str(BIN / "go"), "build", "-o", "app", "."], cwd=DEMO, check=True, timeout=300,
                       env={**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-buildvcs=false"})
        subprocess.run([*base, "up", "-d", "--build"], check=True, timeout=600, capture_output=True)
        port = subprocess.run([*base, "port", "api", "8080"], check=True, timeout=60, capture_output=True,
                              text=True).stdout.strip().rsplit(":", 1)[1]
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(url + "/healthz", timeout=1).read()
                break
            except OSError:
                time.sleep(0.25)
        subprocess.run([str(BIN / "locust"), "-f", str(lf), "--headless", "-u", "1", "-r", "1", "-H", url,
                        "--run-time", "3s", "--only-summary"], check=True, timeout=120, capture_output=True,
                       env={**os.environ, "FIRST_FILE": str(first_file)})
        return float(first_file.read_text()) - t0
    finally:
        subprocess.run([*base, "down", "-v", "--rmi", "local", "-t", "2"], timeout=300, capture_output=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    h, r = [], []
    with tempfile.TemporaryDirectory() as d:
        for i in range(args.repeat):
            tmp = Path(d) / str(i)
            tmp.mkdir()
            r.append(reference_once(tmp))
            h.append(harness_once(tmp))
            print(f"  round {i + 1}: harness {h[-1]:.2f}s, reference {r[-1]:.2f}s", flush=True)
    hm, rm = statistics.median(h), statistics.median(r)
    print(f"time to first request (median of {args.repeat}):")
    print(f"  harness run                                   {hm:6.2f} s")
    print(f"  go build + compose up + readiness + locust    {rm:6.2f} s")
    print(f"  ratio harness / reference                     {hm / rm:6.2f}")


if __name__ == "__main__":
    main()
