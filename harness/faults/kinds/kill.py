"""kill: send a signal to the container's main process (not reverted; the restart policy decides)."""
from __future__ import annotations

import signal

from harness.faults.backends import docker
from harness.faults.registry import Kind, register


@register
class Kill(Kind):
    name = "kill"
    network = False
    summary = "send a signal to the target's main process"
    params_doc = "signal=SIGKILL, restore=false (start again at the window's end)"
    backends = ("docker",)
    params_schema = {"properties": {"signal": {"type": "string", "default": "SIGKILL"},
                                    "restore": {"type": "boolean", "default": False}}}

    def parse(self, p, node):
        sig = "SIGKILL"
        if "signal" in p:
            names = sorted(s.name for s in signal.Signals)
            raw = p["signal"].as_str().upper()
            sig = raw if raw.startswith("SIG") else "SIG" + raw
            if sig not in names:
                raise p["signal"].error("unknown signal", seen=raw,
                                        hint="e.g. SIGKILL, SIGTERM, SIGQUIT, SIGSTOP")
        return {"signal": sig, "restore": p["restore"].as_bool() if "restore" in p else False}

    def build(self, backend, spec, t):
        return docker.call_plan(t, "kill", {"signal": spec.params["signal"]},
                                undo_call="start" if spec.params["restore"] else None)
