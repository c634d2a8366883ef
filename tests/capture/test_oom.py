"""An OOM kill under a memory limit becomes a run event, a stats counter and a failed expectation."""
from __future__ import annotations

import json
import time
import urllib.request

import pytest

from harness.capture.manager import CaptureManager
from harness.capture.spec import CaptureSpec
from harness.judge.expect import ExpectSpec, Rule, evaluate
from harness.report.rundata import load_run
from harness.report.summary import build
from harness.runctx import Clock, RunContext

from .conftest import start_service

pytestmark = [pytest.mark.docker]


def test_oom_kill_is_seen(docker_client, capapp_image, tmp_path):
    svc = start_service(docker_client, capapp_image, mem_limit="32m")
    clock = Clock.start()
    rc = RunContext.of("oom", tmp_path, clock, {"api": svc})
    manager = CaptureManager(CaptureSpec(pprof=(), stats_interval=0.5), rc)
    manager.start()
    try:
        with pytest.raises(OSError):       # the process dies while answering
            urllib.request.urlopen(f"http://127.0.0.1:{svc.published[8080]}/grow?mib=64", timeout=20).read()
        for _ in range(100):               # the event stream and the next stats tick, bounded
            if {"oom-kill", "container-die"} <= {e["kind"] for e in rc.events.all()}:
                break
            time.sleep(0.1)
    finally:
        manager.stop()
        docker_client.containers.get(svc.container_id).remove(force=True)
    kinds = [e["kind"] for e in rc.events.all()]
    assert "oom-kill" in kinds and "container-die" in kinds, rc.events.all()
    # The cgroup's own oom_kill counter goes with the cgroup when the container dies, so the
    # docker event is what the summary counts here.
    end = clock.now()
    manifest = {"phases": [{"name": "squeeze", "start_s": 0.0, "end_s": end + 1}], "services": {"api": {}},
                "artifacts": rc.artifacts.all(), "events": rc.events.all()}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    summary = build(load_run(tmp_path))
    assert summary["phases"][0]["containers"]["api"]["oom_kills"] >= 1
    verdict = evaluate(ExpectSpec((Rule(phases=("squeeze",), where="s.yaml:3:5", no_oom_kill=True),)), summary)
    assert verdict["failed"] == 1 and "OOM kill" in verdict["checks"][0]["message"]

