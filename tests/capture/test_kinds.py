"""The capture interface (harness/capture/kind.py): every module of harness/capture/kinds is one
kind, registered once, naming host needs `harness doctor` probes and artifact kinds the run
directory knows; the manager drives the kinds in their order, once, and a kind that fails at the
end does not keep the others from stopping. No Docker: the kinds here are stand-ins."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from harness.capture import kinds as kinds_pkg
from harness.capture.kind import Capture, CaptureRun
from harness.capture.kinds import KINDS
from harness.capture.manager import CaptureManager
from harness.capture.spec import CaptureSpec, RuntimeSpec, WindowSpec
from harness.faults import capabilities
from harness.host.doctor import HOST_PROBES
from harness.runctx import Clock, PhaseWindow, RunContext, ServiceInfo
from rundir.contract import ARTIFACT_KINDS

KINDS_DIR = Path(kinds_pkg.__file__).parent


def _classes(path: Path) -> list[str]:
    """Names of the classes a module defines that derive from Capture or from a kind (by their syntax)."""
    tree = ast.parse(path.read_text())
    bases = {"Capture", *(k.__name__ for k in KINDS)}
    return [n.name for n in tree.body if isinstance(n, ast.ClassDef)
            and any(getattr(b, "id", None) in bases for b in n.bases)]


def test_every_kind_module_is_one_registered_kind():
    modules = sorted(p for p in KINDS_DIR.glob("*.py") if p.name != "__init__.py")
    assert modules, KINDS_DIR
    by_module = {k.__module__.rpartition(".")[2]: k for k in KINDS}
    for path in modules:
        assert _classes(path) == [by_module[path.stem].__name__], f"{path.name}: one Capture class, in KINDS"
    assert len(by_module) == len(KINDS) == len({k.name for k in KINDS})


def test_needs_and_writes_are_known_names():
    probes = {p.name for p in (*capabilities.PROBES.values(), *HOST_PROBES)}
    for k in KINDS:
        assert k.name and set(k.needs) <= probes, (k.__name__, k.needs)
        assert k.writes and all(re.fullmatch(r"[a-z][a-z0-9-]*", w) for w in k.writes), (k.__name__, k.writes)
    # the run directory's readers know the kinds they read (rundir/contract.py); any other is listed
    writes = [w for k in KINDS for w in k.writes]
    assert len(writes) == len(set(writes)), "two capture kinds write the same artifact kind"
    assert {"cpu", "perf", "trace", "runtime", "functions", "container-stats"} <= set(writes) <= \
        set(ARTIFACT_KINDS) | {w for k in KINDS if k.key for w in k.writes}


def _svc(name: str, pprof_url: str | None = None) -> ServiceInfo:
    return ServiceInfo(name, f"id-{name}", name, 1, {}, {}, pprof_url)


def _rc(tmp_path, services=None) -> RunContext:
    return RunContext.of("kinds", tmp_path, Clock.start(), services or {})


def test_a_kind_runs_only_when_the_scenario_asks(tmp_path):
    api = _svc("api", "http://127.0.0.1:1/debug/pprof")
    rc = _rc(tmp_path, {"api": api})
    names = {type(c).__name__ for c in CaptureManager(CaptureSpec(pprof=(), runtime=None, stats_interval=0), rc).captures}
    assert names == {"Containers"}            # the OOM/restart watcher always runs
    spec = CaptureSpec(pprof=("cpu",), trace=WindowSpec(("p",)), perf=WindowSpec(("p",)),
                       runtime=RuntimeSpec(), stats_interval=0)
    names = [type(c).__name__ for c in CaptureManager(spec, rc).captures]
    assert names == ["Containers", "Runtime", "Profiles", "Trace", "Perf"]
    # no service with pprof: nothing to fetch from
    bare = _rc(tmp_path, {"db": _svc("db")})
    assert [type(c).__name__ for c in CaptureManager(spec, bare).captures] == ["Containers"]


class _Log(Capture):
    name, writes = "log", ("runtime",)
    calls: list[str] = []
    broken = ""

    @classmethod
    def wanted(cls, run: CaptureRun) -> bool:
        return True

    def _note(self, what: str) -> None:
        self.calls.append(f"{type(self).__name__}.{what}")
        if what == self.broken:
            raise RuntimeError(f"{type(self).__name__} broke in {what}")

    def start(self):
        self._note("start")

    def phase_start(self, phase):
        self._note(f"phase_start:{phase.name}")

    def phase_end(self, phase):
        self._note(f"phase_end:{phase.name}")
        return ()

    def stop(self):
        self._note("stop")

    def finish(self, deadline):
        self._note("finish")


class _A(_Log):
    pass


class _B(_Log):
    pass


def test_the_manager_calls_every_kind_in_order_once(tmp_path):
    _Log.calls = []
    m = CaptureManager(CaptureSpec(stats_interval=0), _rc(tmp_path), kinds=(_A, _B))
    m.start()
    phase = PhaseWindow("p", 0.0, 1.0)
    m.phase_start(phase)
    m.phase_end(phase)
    m.stop()
    m.stop()                                             # idempotent
    m.phase_start(phase)                                 # after stop: nothing
    assert _Log.calls == ["_A.start", "_B.start", "_A.phase_start:p", "_B.phase_start:p", "_A.phase_end:p",
                          "_B.phase_end:p", "_A.stop", "_B.stop", "_A.finish", "_B.finish"]


def test_a_kind_that_fails_at_the_end_does_not_keep_the_others_running(tmp_path):
    _Log.calls = []
    _A.broken = "stop"
    try:
        m = CaptureManager(CaptureSpec(stats_interval=0), _rc(tmp_path), kinds=(_A, _B))
        with pytest.raises(RuntimeError, match="_A broke in stop"):
            m.stop()
    finally:
        _A.broken = ""
    assert _Log.calls == ["_A.stop", "_B.stop", "_A.finish", "_B.finish"]


class _Owned(Capture):
    """A stand-in kind that owns `captures.sample`."""
    name, key, writes = "sample", "sample", ("sample",)
    schema = {"type": "object", "properties": {"every": {"type": "string"}}}

    @classmethod
    def parse(cls, node, ctx):
        keys = node.keys(["every"], required=["every"])
        return {"every": keys["every"].as_duration(min=0.1)}


def test_a_kind_owns_its_scenario_section():
    from harness.capture.spec import parse_captures
    from harness.errors import ScenarioError
    from harness.parse.context import ParseContext
    from harness.parse.node import load_yaml

    ctx = ParseContext(file="s.yaml", scenario_dir=Path("."), services=("api",), phase_names=("main",),
                       allow_external_targets=False)

    def parse(text, owned):
        return parse_captures(load_yaml(text, "s.yaml").get("captures"), ctx, owned)

    spec = parse("captures:\n  pprof: [cpu]\n  sample: {every: 2s}\n", {"sample": _Owned})
    assert spec.own == {"sample": {"every": 2.0}} and spec.pprof == ("cpu",)
    with pytest.raises(ScenarioError) as e:                 # the kind's own errors, with file:line
        parse("captures:\n  sample: {every: 1ms}\n", {"sample": _Owned})
    assert "s.yaml:2" in e.value.render()
    with pytest.raises(ScenarioError, match="sample"):      # not owned by any kind: unknown key
        parse("captures:\n  sample: {every: 2s}\n", {})


def test_a_plain_scenario_is_read_without_importing_the_capture_kinds():
    """`harness validate` of a scenario without an owned section does not pay for importing
    every capture kind (it took validate's start from 0.25 s to 0.9 s)."""
    import subprocess
    import sys
    root = Path(__file__).resolve().parents[2]
    probe = ("import sys; from harness.scenario import load_scenario; load_scenario(sys.argv[1]); "
             "print('harness.capture.kinds' in sys.modules)")
    plain = subprocess.run([sys.executable, "-c", probe, str(root / "scenarios" / "demo.yaml")], cwd=root,
                           capture_output=True, text=True, timeout=120, check=True)
    assert plain.stdout.strip() == "False", plain.stdout + plain.stderr
