"""Where a service's goroutines waited, by cause and own line, from the runtime trace.

`go tool trace -pprof=net|sync|syscall|sched` charges every wait of the trace's window to the
stack the goroutine waited at. The view a wait lands in is not its cause: the caller of
`http.Client.Get` blocks in a select inside net/http's `persistConn.roundTrip` (the sync view),
while the socket read happens in the transport's readLoop goroutine (the net view), which has
no own frame and also waits on idle keep-alive connections. So a wait is charged to the
innermost own frame of its stack, the line of the service's code that waited (a wait with no
own frame is a library goroutine's: left out), and classed by the library frames between that
line and the leaf:

  network   a frame of net, net/http, net/textproto, crypto/tls or internal/poll: a client call,
            a dial, a read or write on a socket, a DNS lookup
  idle      a listener's Accept: a server waiting for connections is not work waiting
  sync      otherwise, in the sync view: locks, channels, select, WaitGroup, Cond
  syscall   otherwise, in the syscall view
  runnable  the sched view: ready to run but not running (scheduler latency), kept apart from
            the waits above: a busy CPU adds it to every line

Figures are seconds of waiting per second of the trace's window: 1.0 is one goroutine waiting
all the time (the trace's delay in ns / 1e9 / window).
"""
from __future__ import annotations

from collections import defaultdict

from harness.report import profiles
from rundir.pprof import Profile, ProfileError, load_profile

VIEWS = ("net", "sync", "syscall", "sched")
VIEW_CLASS = {"net": "network", "sync": "sync", "syscall": "syscall", "sched": "runnable"}
CLASSES = ("network", "sync", "syscall", "runnable")
WAIT_CLASSES = ("network", "sync", "syscall")     # what the verdict calls waiting
NETWORK_PACKAGES = ("net.", "net/", "crypto/tls.", "internal/poll.", "vendor/golang.org/x/net/")
IDLE_FUNCTIONS = (".Accept", ".accept")
MIN_PER_S = 0.001           # lines waiting under 1 ms per second are left out of the table
MAX_LINES = 50


def classify(library: list[str], view: str) -> str:
    """The class of a wait from the library functions between its own line and the leaf (leaf
    first) and the view it came from."""
    if view == "sched":
        return "runnable"
    if any(f.endswith(IDLE_FUNCTIONS) and f.startswith(NETWORK_PACKAGES) for f in library):
        return "idle"
    if any(f.startswith(NETWORK_PACKAGES) for f in library):
        return "network"
    return VIEW_CLASS[view]


def own_waits(prof: Profile, view: str, is_own) -> dict[tuple[str, int, str], dict[str, int]]:
    """(file, line, function) of the innermost own frame -> class -> delay ns, for one view."""
    index = _delay_index(prof)
    out: dict[tuple[str, int, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    own_file: dict[str, bool] = {}
    for stack, values in prof.stacks.items():
        value = values[index]
        if not value:
            continue
        library: list[str] = []
        at = None
        for loc in stack:
            for k, j in zip(prof.loc_lines[loc], prof.loc_funcs[loc]):
                file, line = prof.lines[k]
                mine = own_file.get(file)
                if mine is None:
                    mine = own_file[file] = bool(is_own(file))
                if mine:
                    at = (file, line, prof.funcs[j][0])
                    break
                library.append(prof.funcs[j][0])
            if at:
                break
        if at is None:
            continue
        out[at][classify(library, view)] += value
    return out


def _delay_index(prof: Profile) -> int:
    for i, (stype, unit) in enumerate(prof.sample_types):
        if unit == "nanoseconds":
            return i
    return prof.default_index


def table(paths: dict[str, str], service: dict, seconds: float, problems: list[str]) -> dict | None:
    """One service's waits in one trace window: per class and per own line, in seconds of waiting
    per second of the window. `paths` maps a view (net, sync, syscall, sched) to its file."""
    is_own = profiles.own_matcher(service)
    lines: dict[tuple[str, int, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    read = 0
    for view, path in paths.items():
        try:
            prof = load_profile(path)
        except (ProfileError, OSError) as e:
            problems.append(f"{path}: {e}")
            continue
        read += 1
        for at, classes in own_waits(prof, view, is_own).items():
            for cls, ns in classes.items():
                lines[at][cls] += ns
    if not read or seconds <= 0:
        return None
    per_s = lambda ns: round(ns / 1e9 / seconds, 4)
    by_class = {c: per_s(sum(cl.get(c, 0) for cl in lines.values())) for c in CLASSES}
    rows = []
    for (file, line, function), classes in lines.items():
        waiting = sum(classes.get(c, 0) for c in WAIT_CLASSES)
        row = {"file": profiles.short(file, service), "path": file, "line": line, "function": function,
               "per_s": per_s(waiting), "runnable_per_s": per_s(classes.get("runnable", 0)),
               "by_class": {c: per_s(v) for c, v in classes.items() if c in WAIT_CLASSES and v},
               "class": max(WAIT_CLASSES, key=lambda c: classes.get(c, 0)) if waiting else None}
        if row["per_s"] >= MIN_PER_S or row["runnable_per_s"] >= MIN_PER_S:
            rows.append(row)
    rows.sort(key=lambda r: (-r["per_s"], -r["runnable_per_s"]))
    return {"source": "trace", "seconds": round(seconds, 3), "views": sorted(paths), "by_class": by_class,
            "lines": rows[:MAX_LINES]}


def phase_block(run, phase: str, services: dict) -> dict:
    """Per service with a trace in the phase: its waits table (see `table`)."""
    by_service: dict[str, dict[str, str]] = defaultdict(dict)
    window: dict[str, float] = {}
    for view in VIEWS:
        for a in run.artifacts(f"trace-{view}", phase):
            svc = a.get("service")
            by_service[svc][view] = str(run.path / a["path"])
            if a.get("start_s") is not None and a.get("end_s") is not None:
                window[svc] = max(1e-3, a["end_s"] - a["start_s"])
    out = {}
    for svc, paths in sorted(by_service.items(), key=lambda kv: str(kv[0])):
        if svc not in window:
            continue
        t = table(paths, services.get(svc) or {}, window[svc], run.problems)
        if t is not None:
            out[svc] = t
    return out
