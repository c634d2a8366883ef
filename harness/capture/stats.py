"""Container statistics from the cgroup files (v1 and v2), sampled on the run clock.

Reading a handful of small cgroup files per container costs well under a millisecond
(the docker stats API blocks about a second per call, as it waits for two samples of
its own), so the sampler reads the files and uses the docker API only for events
(die, OOM, restart). Lines of stats/containers.jsonl:

    {"t_s": 3.0, "service": "api", "cpu_pct": 87.5, "throttled_periods": 12, "throttled_ms": 210.3,
     "mem_bytes": 41943040, "mem_limit": 268435456, "rx_bytes": 1200, "tx_bytes": 5600,
     "restarts": 0, "oom_kills": 0}

cpu_pct is of one core (200 = two cores busy); throttled_* and periods (CFS periods in which
the container ran, so throttled_periods / periods is the share of periods it was throttled) are
per interval; rx/tx bytes
are cumulative counters of the container's network namespace.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from harness import docker_engine as engine

CGROUP_ROOT = Path("/sys/fs/cgroup")
UNLIMITED = 1 << 62


@dataclass
class Cgroup:
    """Where one container's cgroup files are: v2 (one dir) or v1 (one dir per controller)."""
    version: int
    cpu: Path
    memory: Path
    cpuacct: Path | None = None

    def read(self) -> dict:
        return _read_v2(self) if self.version == 2 else _read_v1(self)

    def net(self) -> tuple[int | None, int | None]:
        return net_bytes(self.pid())

    def sample_at(self, clock) -> tuple[float, dict]:
        return clock.now(), self.read()

    def close(self) -> None:
        pass

    def pid(self) -> int | None:
        """A live process of the container (for its network counters); None when it has none."""
        try:
            text = (self.memory / "cgroup.procs").read_text().split()
        except OSError:
            return None
        return int(text[0]) if text else None


def find_cgroup(container_id: str, pid: int | None = None, root: Path = CGROUP_ROOT) -> Cgroup | None:
    """Locate the container's cgroup (docker cgroupfs or systemd driver, v1 or v2)."""
    v2 = [root / "docker" / container_id, root / "system.slice" / f"docker-{container_id}.scope"]
    if (root / "cgroup.controllers").exists():
        for d in v2 + _from_proc(pid, root, ""):
            if (d / "cpu.stat").exists():
                return Cgroup(2, cpu=d, memory=d)
        return None
    for rel in (f"docker/{container_id}", f"system.slice/docker-{container_id}.scope"):
        cpu, mem, acct = root / "cpu" / rel, root / "memory" / rel, root / "cpuacct" / rel
        if (cpu / "cpu.stat").exists() and (mem / "memory.usage_in_bytes").exists():
            return Cgroup(1, cpu=cpu, memory=mem, cpuacct=acct if acct.exists() else cpu)
    return None


def _from_proc(pid: int | None, root: Path, controller: str) -> list[Path]:
    if not pid:
        return []
    try:
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        _id, ctrls, path = line.split(":", 2)
        if ctrls == controller:
            return [root / path.lstrip("/")]
    return []


def _kv(path: Path) -> dict[str, int]:
    out = {}
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            out[parts[0]] = int(parts[1])
    return out


def _int(path: Path) -> int | None:
    text = path.read_text().strip()
    return None if text == "max" else int(text)


def _read_v1(cg: Cgroup) -> dict:
    stat = _kv(cg.cpu / "cpu.stat")
    limit = _int(cg.memory / "memory.limit_in_bytes")
    oom = _kv(cg.memory / "memory.oom_control")
    return {"cpu_ns": int((cg.cpuacct / "cpuacct.usage").read_text()),
            "throttled_periods": stat.get("nr_throttled", 0), "periods": stat.get("nr_periods", 0),
            "throttled_ns": stat.get("throttled_time", 0),
            "mem_bytes": _int(cg.memory / "memory.usage_in_bytes"),
            "mem_limit": None if limit is None or limit >= UNLIMITED else limit,
            "oom_kills": oom.get("oom_kill", 0)}


def _read_v2(cg: Cgroup) -> dict:
    stat = _kv(cg.cpu / "cpu.stat")
    events = _kv(cg.memory / "memory.events")
    limit = _int(cg.memory / "memory.max")
    return {"cpu_ns": stat.get("usage_usec", 0) * 1000,
            "throttled_periods": stat.get("nr_throttled", 0), "periods": stat.get("nr_periods", 0),
            "throttled_ns": stat.get("throttled_usec", 0) * 1000,
            "mem_bytes": _int(cg.memory / "memory.current"),
            "mem_limit": limit, "oom_kills": events.get("oom_kill", 0)}


def net_bytes(pid: int | None) -> tuple[int | None, int | None]:
    """Received and sent bytes over the non-loopback interfaces of the process's namespace."""
    if not pid:
        return None, None
    try:
        lines = Path(f"/proc/{pid}/net/dev").read_text().splitlines()[2:]
    except OSError:
        return None, None
    rx = tx = 0
    for line in lines:
        name, _, rest = line.partition(":")
        fields = rest.split()
        if name.strip() != "lo" and len(fields) >= 9:
            rx += int(fields[0])
            tx += int(fields[8])
    return rx, tx


class EngineStats:
    """One container's figures from the engine's API, for a remote engine (its cgroup files are
    on another host), in the form Cgroup.read() gives. The engine collects them once a second
    and a call waits for its next collection, so a thread of its own keeps the newest reading
    and its time: the sampler takes each reading once (a remote engine's resolution is 1 s)."""

    def __init__(self, container_id: str, clock):
        import docker

        self._container = docker.from_env(timeout=10).containers.get(container_id)
        self._clock = clock
        self._net: tuple[int | None, int | None] = (None, None)
        self._latest: tuple[float, dict] | None = None
        self._taken: float | None = None
        self._stop = threading.Event()
        threading.Thread(target=self._loop, name=f"engine-stats-{container_id[:12]}", daemon=True).start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                raw, net = from_engine(self._container.stats(stream=False, one_shot=True))
            except Exception:  # noqa: BLE001 - gone or restarting (the events say which); try again
                self._stop.wait(1.0)
                continue
            self._latest, self._net = (self._clock.now(), raw), net    # the next call waits for the engine

    def sample_at(self, clock) -> tuple[float, dict]:
        latest = self._latest
        if latest is None or latest[0] == self._taken:
            raise ValueError("no new reading from the engine")
        self._taken = latest[0]
        return latest

    def net(self) -> tuple[int | None, int | None]:
        return self._net

    def close(self) -> None:
        self._stop.set()


def from_engine(s: dict) -> tuple[dict, tuple[int | None, int | None]]:
    """The engine's stats document as Cgroup.read()'s raw figures, and (rx, tx) bytes (pure)."""
    cpu, mem = s.get("cpu_stats") or {}, s.get("memory_stats") or {}
    thr = cpu.get("throttling_data") or {}
    if not cpu.get("cpu_usage"):
        raise ValueError("no figures: the container is not running")
    nets = (s.get("networks") or {}).values()
    net = (sum(n.get("rx_bytes", 0) for n in nets), sum(n.get("tx_bytes", 0) for n in nets)) if nets else (None, None)
    limit = mem.get("limit")
    return ({"cpu_ns": int(cpu["cpu_usage"].get("total_usage", 0)),
             "throttled_periods": thr.get("throttled_periods", 0), "periods": thr.get("periods", 0),
             "throttled_ns": thr.get("throttled_time", 0), "mem_bytes": mem.get("usage"),
             "mem_limit": None if not limit or limit >= UNLIMITED else limit,
             "oom_kills": (mem.get("stats") or {}).get("oom_kill", 0)}, net)


def derive(prev: dict | None, cur: dict, dt: float) -> dict:
    """One jsonl line's numbers from two raw readings `dt` seconds apart (pure)."""
    out = {"mem_bytes": cur["mem_bytes"], "mem_limit": cur["mem_limit"], "oom_kills": cur["oom_kills"],
           "cpu_pct": None, "throttled_periods": None, "periods": None, "throttled_ms": None}
    if prev is not None and dt > 0:
        out["cpu_pct"] = round(max(0, cur["cpu_ns"] - prev["cpu_ns"]) / (dt * 1e9) * 100, 2)
        out["throttled_periods"] = max(0, cur["throttled_periods"] - prev["throttled_periods"])
        out["periods"] = max(0, cur.get("periods", 0) - prev.get("periods", 0))
        out["throttled_ms"] = round(max(0, cur["throttled_ns"] - prev["throttled_ns"]) / 1e6, 3)
    return out


class StatsSampler:
    """A thread that appends one line per container to stats/containers.jsonl every interval."""

    def __init__(self, rc, services: list, interval: float, restarts: dict[str, int]):
        self._rc = rc
        self._services = services
        self._interval = interval
        self._restarts = restarts          # service -> count, updated by the events watcher
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.path = rc.run_dir / "stats" / "containers.jsonl"
        self.cost_s = 0.0                  # time spent reading, for the overhead figure
        self.ticks = 0
        self._groups: dict[str, Cgroup | EngineStats | None] = {}
        self._prev: dict[str, tuple[float, dict]] = {}
        self.latest: dict[str, dict] = {}  # service -> its newest line (for the progress display)

    def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        local = engine.current().local
        for svc in self._services:
            self._groups[svc.name] = find_cgroup(svc.container_id, svc.pid) if local else _engine_stats(svc, self._rc)
            if self._groups[svc.name] is None:
                self._rc.events.add("capture-failed", f"no cgroup found for container {svc.container_id[:12]}"
                                    "; no container stats for this service", service=svc.name,
                                    capture="container-stats")
        self._thread = threading.Thread(target=self._loop, name="stats-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        for g in self._groups.values():
            if g is not None:
                g.close()

    def _loop(self) -> None:
        next_t = time.monotonic()
        with open(self.path, "a") as out:
            while not self._stop.is_set():
                started = time.monotonic()
                out.writelines(json.dumps(line) + "\n" for line in self.sample())
                out.flush()
                self.cost_s += time.monotonic() - started
                self.ticks += 1
                next_t += self._interval
                self._stop.wait(max(0.0, next_t - time.monotonic()))

    def sample(self) -> list[dict]:
        lines = []
        for svc in self._services:
            cg = self._groups.get(svc.name)
            if cg is None:
                continue
            try:
                t, raw = cg.sample_at(self._rc.clock)
            except (OSError, ValueError):
                continue            # the container is gone or restarting; the events say why
            prev = self._prev.get(svc.name)
            line = {"t_s": round(t, 3), "service": svc.name}
            line.update(derive(prev[1] if prev else None, raw, t - prev[0] if prev else 0.0))
            line["rx_bytes"], line["tx_bytes"] = cg.net()
            line["restarts"] = self._restarts.get(svc.name, 0)
            self._prev[svc.name] = (t, raw)
            self.latest[svc.name] = line
            lines.append(line)
        return lines


def _engine_stats(svc, rc) -> EngineStats | None:
    try:
        return EngineStats(svc.container_id, rc.clock)
    except Exception:  # noqa: BLE001 - reported as a capture-failed event by the caller
        return None


class DockerEvents:
    """Die, OOM and restart events of the run's containers, as run events (docker API stream)."""

    KINDS: ClassVar[dict[str, str]] = {"oom": "oom-kill", "die": "container-die", "start": "container-start",
             "restart": "container-restart", "kill": "container-kill"}

    def __init__(self, rc, services: list, restarts: dict[str, int]):
        self._rc = rc
        self._by_id = {s.container_id: s.name for s in services}
        self._restarts = restarts
        self._stream = None
        self._thread: threading.Thread | None = None
        self._since_s = 0.0

    def start(self) -> None:
        if not self._by_id:
            return
        self._since_s = self._rc.clock.now()
        try:
            import docker

            client = docker.from_env(timeout=10)
            self._stream = client.events(decode=True, since=int(time.time()),
                                         filters={"type": "container", "container": list(self._by_id)})
        except Exception as e:  # noqa: BLE001 - the docker SDK raises several types; the run goes on without events
            self._rc.events.add("capture-failed", f"docker events unavailable: {e}", capture="docker-events")
            return
        self._thread = threading.Thread(target=self._loop, name="docker-events", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        try:
            for ev in self._stream:
                self.handle(ev)
        except Exception:  # noqa: BLE001 - the stream is closed by stop(); nothing to report
            return

    def handle(self, ev: dict) -> dict | None:
        action = str(ev.get("Action") or ev.get("status") or "").split(":")[0]
        kind = self.KINDS.get(action)
        name = self._by_id.get(ev.get("id") or ev.get("Actor", {}).get("ID"))
        wall = ev.get("timeNano", 0) / 1e9 or ev.get("time", 0)
        t_s = wall - self._rc.clock.wall_t0 if wall else None
        if kind is None or name is None or (t_s is not None and t_s < self._since_s):
            return None             # `since` has one-second resolution: older events come too
        if action == "start":
            self._restarts[name] = self._restarts.get(name, 0) + 1
        attrs = ev.get("Actor", {}).get("Attributes", {})
        detail = f"{name}: {action}" + (f" (exit code {attrs['exitCode']})" if "exitCode" in attrs else "")
        return self._rc.events.add(kind, detail, t_s=t_s, service=name)

    def stop(self) -> None:
        if self._stream is not None:
            try:
                self._stream.close()
            except Exception:  # noqa: BLE001, S110 - closing an already broken stream
                pass
            self._stream = None
        if self._thread is not None:
            self._thread.join(timeout=3)
            self._thread = None
