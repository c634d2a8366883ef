"""The capture kinds, in the order the manager calls them (harness/capture/kind.py says when).

The order matters at three points: the runtime sampler ends its phase before anything else at a
phase end (later samples belong to no phase); the pprof CPU window starts before perf, whose
start waits until perf records; and the trace kind finishes (reads its traces, writes which
goroutine ran on which thread) before perf and offcpu finish (they join their samples to it)."""
from __future__ import annotations

from harness.capture.kinds.containers import Containers
from harness.capture.kinds.expvar import Expvar
from harness.capture.kinds.functions import Functions
from harness.capture.kinds.offcpu import OffCpu
from harness.capture.kinds.perf import Perf
from harness.capture.kinds.profiles import Profiles
from harness.capture.kinds.runtime import Runtime
from harness.capture.kinds.trace import Trace

KINDS = (Containers, Runtime, Expvar, Profiles, Trace, Perf, OffCpu, Functions)
