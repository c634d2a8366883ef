"""bandwidth_flap (harness/faults/kinds/bandwidth_flap.py): parsed with file:line errors, capped
for the first half of each period and free for the second, and on the real kernel through the
proxy: about `rate` while capped, far above it while free, nothing left after."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from harness.errors import ScenarioError
from harness.faults import registry
from harness.faults.spec import FaultSpec, Peer, parse_fault
from harness.faults.target import make_tag
from harness.parse.context import ParseContext
from harness.parse.node import load_yaml

from . import helpers


def parse(text: str) -> FaultSpec:
    ctx = ParseContext(file="s.yaml", scenario_dir=Path("."), services=("api", "db"), phase_names=("main",),
                       allow_external_targets=False)
    return parse_fault(load_yaml(text, "s.yaml"), ctx)


def test_parameters():
    s = parse("kind: bandwidth_flap\ntarget: api\npeer: db\nrate: 1mbit\nperiod: 4s\n")
    assert s.params == {"rate": 1_000_000, "period": 4.0} and s.direction == "egress"
    assert parse("kind: bandwidth_flap\ntarget: api\nrate: 500kbit\n").params["period"] == 2.0
    with pytest.raises(ScenarioError) as e:
        parse("kind: bandwidth_flap\ntarget: api\nrate: 1mbit\nperiod: 50ms\n")
    assert "s.yaml:4" in e.value.render() and "period" in e.value.render()
    with pytest.raises(ScenarioError, match="rate"):
        parse("kind: bandwidth_flap\ntarget: api\nperiod: 2s\n")


def test_capped_for_the_first_half_of_every_period():
    now = [100.0]
    flap = registry.get("bandwidth_flap").proxy({"rate": 1_000_000, "period": 2.0})
    flap.clock, flap.t0 = (lambda: now[0]), 100.0
    seen = []
    for t in (0.0, 0.5, 0.99, 1.0, 1.5, 1.99, 2.0, 2.5, 3.0, 4.1):
        now[0] = 100.0 + t
        seen.append(flap.capped())
    assert seen == [True, True, True, False, False, False, True, True, False, True]


@pytest.mark.docker
@pytest.mark.slow
def test_the_cap_comes_and_goes_on_the_real_kernel(env, rc, controller):
    spec = FaultSpec(id="flap", kind="bandwidth_flap", target="target", peer=Peer(service="peer_a", port=8080),
                     params={"rate": 1_000_000, "period": 8.0})
    ip, push = env.ip("target"), f"/push?addr={env.ip('peer_a')}:8080&n=200000"
    with helpers.applied(controller, spec):
        applied = time.monotonic()               # the proxy's period started just before
        capped = float(helpers.get(ip, push))    # 1.6 Mbit at 1 Mbit/s: 1.6 s, inside the capped 4 s
        time.sleep(max(0.0, applied + 4.5 - time.monotonic()))
        free = float(helpers.get(ip, push))
    print(f"bandwidth_flap 1 Mbit/s, period 8 s: capped {capped / 1e6:.3f} Mbit/s, free {free / 1e6:.1f} Mbit/s")
    assert 0.8e6 <= capped <= 1.25e6, capped
    assert free >= 4e6, free
    helpers.no_leftovers(env.info("target").pid, make_tag(rc.run_id, "flap"))
