"""Remote workers, the pure parts: the clock offset, the remote target rule, `harness worker`."""
from __future__ import annotations

import pytest

from harness.cli import main
from harness.errors import HarnessError, TargetRefused
from harness.load.clock import offset_from
from harness.load.runner import check_remote_target
from harness.load.spec import LoadSpec, RequestSpec
from harness.netif import interface_address
from harness.runctx import ServiceInfo

from .helpers import run_context


def test_the_clock_offset_comes_from_the_shortest_round_trip():
    # the worker's clock is 100 s behind the master's; the second exchange was quickest
    samples = [(10.0, 110.004, 10.006), (11.0, 111.0005, 11.001), (12.0, 112.009, 12.010)]
    offset, rtt = offset_from(samples)
    assert offset == pytest.approx(100.0, abs=1e-9) and rtt == pytest.approx(0.001)
    assert offset_from([(5.0, 1.0, 5.002), (6.0, 0.0, 5.9)]) == pytest.approx((-4.001, 0.002))  # no negative trips
    with pytest.raises(ValueError):
        offset_from([])


def _spec(**kw) -> LoadSpec:
    return LoadSpec(model="open", url="http://10.9.0.1:8080", requests=(RequestSpec("x", "GET", "/x"),),
                    remote_workers=1, master_interface="lo", **kw)


def test_remote_workers_may_only_load_the_environments_ports_published_on_an_interface(tmp_path):
    svc = ServiceInfo("api", "c", "api-1", 1, {"net": "172.18.0.5"}, {8080: 31000}, None,
                      exposed={8080: ("10.9.0.1", 31001)})
    rc, _ = run_context(tmp_path, [("main", 0, 1)], services={"api": svc})
    check_remote_target(_spec(), rc, "http://10.9.0.1:31001")
    for url in ("http://10.9.0.1:31000", "http://10.9.0.2:31001", "http://127.0.0.1:31000", None):
        with pytest.raises(TargetRefused) as e:
            check_remote_target(_spec(), rc, url)
        assert "publish" in e.value.hint
    check_remote_target(_spec(allow_external=True), rc, "http://192.0.2.9:80")   # allowed on purpose


def test_an_interface_without_an_address_names_those_there_are():
    assert interface_address("lo", "here") == "127.0.0.1"
    with pytest.raises(HarnessError) as e:
        interface_address("nosuch0", "scenario.yaml:3:5")
    assert "'nosuch0' does not exist" in str(e.value) and "lo (127.0.0.1)" in e.value.seen
    assert e.value.where == "scenario.yaml:3:5"


def test_harness_worker_without_a_token_is_a_clear_error(monkeypatch, capsys):
    monkeypatch.delenv("HARNESS_LOAD_TOKEN", raising=False)
    assert main(["worker", "--master", "127.0.0.1:5557"]) != 0
    err = capsys.readouterr().err
    assert "no token" in err and "HARNESS_LOAD_TOKEN" in err and "Traceback" not in err
