"""The undo journal's step registry (harness/undo/steps.py): every step operation the harness
writes anywhere is registered once a replayer (harness/host/recovery.py, which `harness clean`
and the watchdog use) is imported, and an unknown step is a clear failure of that step only."""
from __future__ import annotations

import ast
from pathlib import Path

import harness.host.recovery  # noqa: F401 - the replayer: imports every owner of undo steps
from harness.undo import steps
from harness.undo.ledger import Ledger, revert_open

ROOT = Path(__file__).resolve().parents[1] / "harness"


def _written_ops() -> dict[str, str]:
    """op name -> where, for every {"op": "<literal>"} dict in the engine's source."""
    found = {}
    for path in sorted(ROOT.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Dict):
                for k, v in zip(node.keys, node.values):
                    if isinstance(k, ast.Constant) and k.value == "op" and isinstance(v, ast.Constant):
                        found.setdefault(v.value, f"{path.relative_to(ROOT.parent)}:{node.lineno}")
    return found


def test_every_written_step_is_registered():
    written = _written_ops()
    assert {"ns", "spawn", "kill-pidfile", "docker", "uprobes-remove"} <= set(written), written
    missing = {op: where for op, where in written.items() if op not in steps.OPS}
    assert not missing, f"steps written but not registered with harness/undo/steps.py: {missing}"


def test_a_name_registers_once():
    try:
        steps.operation("ns")(lambda runner, s: None)
    except ValueError as e:
        assert "registered twice" in str(e)
    else:
        raise AssertionError("a second 'ns' operation was accepted")


def test_an_unknown_step_fails_alone(tmp_path):
    led = Ledger(tmp_path)
    marker = tmp_path / "pidfile"
    led.write("x", "applying", undo=[{"op": "no-such-step"}, {"op": "kill-pidfile", "pidfile": str(marker),
                                                               "marker": "nothing"}])
    done = revert_open(tmp_path, runner=steps.StepRunner(docker_client=object()))
    assert done[0]["state"] == "revert-failed"
    assert len(done[0]["failures"]) == 1 and "unknown undo step 'no-such-step'" in done[0]["failures"][0]
    assert Ledger(tmp_path).unreverted()[0]["state"] == "revert-failed"
