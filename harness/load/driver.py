"""The Locust side of the load worker. Imported ONLY in the child process: `import locust`
monkey-patches the whole process with gevent.

Open model: one Locust FastHttpUser whose task starts up to `max_inflight` sender greenlets
(the cap) that take the arrival schedule's requests in turn, each sent at its intended time;
requests go through the user's FastHttpSession, so Locust's request event and statistics
see them.
Closed model: Locust's own runner spawns `users` users (generated from `requests:`, or the
user's locustfile). Both record every request through one request-event listener into the
Recorder's HdrHistograms, with the intended send time passed in the request context.
"""
from __future__ import annotations

import bisect
import itertools
import math
import os
import random
import signal
import socket
import time

import gevent
import gevent.event
from locust import FastHttpUser, constant, task
from locust.env import Environment
from locust.exception import StopUser

from harness.load.recorder import RawLog, Recorder, saturation_reasons
from harness.load.replay import ReplayArrivals
from harness.load.schedule import ArrivalSchedule, Phase, PhaseTable, RateFunction
from harness.load.spec import LoadSpec, RequestSpec

INTENDED_KEY = "harness_intended_mono"
TICK_SLACK_S = 0.05
PROBE_S = 0.05             # the event-loop probe's sleep: a stall of 100 ms or more shows as 50 ms late
SPIN_S = 0.0015            # replay: the last stretch before a send time spent yielding, not sleeping
BUSY_CPU = 0.9             # of a core: a worker this busy is the bottleneck; more senders would not help
NICE = -10                 # the event loop's thread, when allowed (root): see raise_priority()


class Picker:
    """Weighted choice of the next request (seeded, so runs can repeat)."""

    def __init__(self, requests: tuple[RequestSpec, ...], seed: int | None):
        self.requests = requests
        self._cum = list(itertools.accumulate(r.weight for r in requests))
        self._rand = random.Random(seed).random

    def pick(self) -> RequestSpec:
        if len(self.requests) == 1:
            return self.requests[0]
        i = bisect.bisect_right(self._cum, self._rand() * self._cum[-1])
        return self.requests[min(i, len(self.requests) - 1)]


def send(client, req: RequestSpec, intended_mono: float | None = None) -> None:
    context = {INTENDED_KEY: intended_mono} if intended_mono is not None else {}
    client.request(req.method, req.path, name=req.name, data=req.body,
                   headers=dict(req.headers) if req.headers else None, context=context)


class Senders:
    """Up to `cap` sender greenlets that take the schedule's arrivals in turn. A free sender
    takes the next arrival, sleeps until its time (an arrival already due goes at once) and
    sends it: no hand-off between greenlets, one wake-up per request, as a plain Locust user.
    A sender that starts sending while no other is free starts one more, up to the cap (the
    busy ones wait on the service), unless the worker's CPU was at 90% of a core over the
    last 50 ms (the generator is the bottleneck: more senders would only open more
    connections). The event-loop probe also looks at the pool every 50 ms: if no sender is free
    and none came back meanwhile, they all wait on the service, and it adds as many senders as
    went busy in that time. While every sender under the cap is busy nobody takes the next
    arrival: once one comes free, the arrivals that were due meanwhile are sent late and
    counted as delayed (overflow: wait) or counted as dropped (overflow: drop)."""

    def __init__(self, worker: Worker, client, arrivals):
        self.w, self.client = worker, client
        self.arrivals = iter(arrivals)
        self.cap = worker.spec.max_inflight
        self.drop = worker.spec.overflow == "drop"
        self.begin = worker.now()
        self.inflight = 0                 # sending now
        self.free = 0                     # holding an arrival, or about to take one
        self.greenlets: list = []
        self.full_since: float | None = None   # every sender busy since (run time)
        self.cap_release = -math.inf      # the last time a sender came free from a full pool
        self.exhausted = False
        self.back = self.went = 0         # senders back from a send, and sends started, since the probe looked
        self.busy = False                 # the worker's CPU was at BUSY_CPU of a core lately
        self._mark = (self.begin, cpu_demand())
        self.finished = gevent.event.Event()

    def start(self) -> None:
        self._spawn()

    def _spawn(self) -> None:
        self.free += 1
        self.greenlets.append(gevent.spawn(self._serve))

    def _take(self):
        """The next arrival to send, or None at the schedule's end."""
        w = self.w
        for t, req in self.arrivals:
            if t < self.begin - 0.001:
                w.skipped_late_start += 1
            elif t >= self.cap_release:
                return t, req, False
            elif self.drop:
                w.rec.note_dropped(t, w.now())
            else:
                return t, req, True
        self.exhausted = True
        return None

    def _serve(self) -> None:
        w, rec = self.w, self.w.rec
        try:
            while not w.stopping.is_set():
                item = self._take()
                if item is None or not w.sleep_until(item[0]):
                    return
                t, req, delayed = item
                now = w.now()
                if delayed:
                    rec.note_delayed(t, now)
                else:
                    rec.note_lag(t, now - t)
                rec.note_sent(t, now)
                self._sending(now)
                try:
                    send(self.client, req, w.t0 + t)
                finally:
                    self._sent(w.now())
        finally:
            self.free -= 1
            if self.free == 0 and self.inflight == 0:
                self.finished.set()

    def _sending(self, now: float) -> None:
        self.went += 1
        self.free -= 1
        self.inflight += 1
        if self.free == 0:
            if len(self.greenlets) >= self.cap:
                if self.full_since is None:
                    self.full_since = now
            elif not self._busy(now):
                self._spawn()

    def _busy(self, now: float) -> bool:
        """Whether this worker wanted BUSY_CPU of a core over the last 50 ms or so: ran, or
        waited to run (measured at most every 50 ms: a read costs a system call)."""
        if now - self._mark[0] >= 0.05:
            cpu = cpu_demand()
            self.busy = (cpu - self._mark[1]) / (now - self._mark[0]) >= BUSY_CPU
            self._mark = (now, cpu)
        return self.busy

    def grow(self) -> None:
        """Called by the event-loop probe: while no sender is free and none came back since the
        last call (every one of them waits on the service), as many more senders as went busy
        meanwhile (about the arrivals due in the next interval), up to the cap."""
        back, went = self.back, self.went
        self.back = self.went = 0
        if self.free or back or self.exhausted or self.w.stopping.is_set():
            return
        for _ in range(min(max(went, 1), self.cap - len(self.greenlets))):
            self._spawn()

    def _sent(self, now: float) -> None:
        self.back += 1
        self.inflight -= 1
        self.free += 1
        if self.full_since is not None:
            self.full_since = None
            self.cap_release = now

    def wait(self) -> None:
        """Until the schedule is sent and answered, or the worker is told to stop."""
        gevent.wait([self.finished, self.w.stopping], count=1)

    def join(self, timeout: float) -> None:
        gevent.joinall(self.greenlets, timeout=timeout)

    def kill(self) -> None:
        gevent.killall(self.greenlets, block=True, timeout=1.0)


class Worker:
    def __init__(self, cfg: dict, emit):
        self.cfg = cfg
        self.emit = emit
        self.spec = LoadSpec.from_json(cfg["spec"])
        self.index, self.workers = int(cfg["index"]), int(cfg["workers"])
        self.t0 = time.monotonic()
        self.phases = PhaseTable([])
        self.rate = RateFunction(self.spec, self.phases)
        self.rec = Recorder(self.phases, basis=self.spec.latency_basis, sig=self.spec.precision)
        self.stopping = gevent.event.Event()
        self.done = gevent.event.Event()
        self.senders: Senders | None = None
        self.skipped_late_start = 0
        self.loop_started = False
        self.loop_late = 0.0
        self.cpu_log: list[list] = []
        self.env: Environment | None = None
        self.replay: ReplayArrivals | None = None
        self.spin_s = SPIN_S if self.spec.model == "replay" else 0.0

    def prepare(self, env: Environment) -> None:
        """Everything slow, before the timeline is known: the Locust users, in the environment
        of this worker's Locust WorkerRunner (harness/load/node.py)."""
        self.env = env
        env.user_classes = self.user_classes()
        env.host = self.cfg["target_url"]
        for cls in env.user_classes:          # as Locust's own start does: the target is the host
            cls.host = env.host
        env.stop_timeout = min(self.spec.timeout, 5.0)
        env.events.request.add_listener(self.on_request)
        if self.spec.model == "replay":       # read up to the first request now, not at the first send
            self.replay = ReplayArrivals(self.spec.replay, index=self.index, workers=self.workers)
            self.replay.prime()

    def set_timeline(self, go: dict) -> None:
        """The run's clock and phase windows (the runner's go message)."""
        self.t0 = float(go["mono_t0"])
        self.phases = PhaseTable([Phase(p["name"], p["start_s"], p["end_s"]) for p in go["phases"]])
        self.rate = RateFunction(self.spec, self.phases)
        raw = RawLog(go["raw_log"]) if go.get("raw_log") else None
        self.rec = Recorder(self.phases, basis=self.spec.latency_basis, sig=self.spec.precision, raw=raw)

    # -- clock -------------------------------------------------------------------------------
    def now(self) -> float:
        return time.monotonic() - self.t0

    def sleep_until(self, t: float) -> bool:
        """Sleep until run time t; False if told to stop meanwhile. gevent's timers wake up
        to about a millisecond late (epoll waits in whole milliseconds): that lateness is
        measured (lag_ms), not hidden. A replay, whose times are the log's own, sleeps to
        SPIN_S before the time and yields to the event loop from there (sub-ms sends). Every
        sender due within SPIN_S does so: while one yields the loop never blocks anyway, so more
        of them cost no more CPU, and none waits on a timer (a second arrival of a burst that
        slept to its time came up to 1 ms late: the p99 of a bursty log's sends was 1.3-1.8 ms
        after the log's time with a busy core, and is 0.4-0.6 ms so)."""
        wait = t - self.now() - self.spin_s
        if wait > 0.1:
            if self.stopping.wait(wait):
                return False
        elif wait > 0:
            gevent.sleep(wait)           # cheaper than an Event wait; stop is checked below
        if self.spin_s:
            while self.now() < t:
                gevent.sleep(0)          # the last stretch: yield to the loop until the time
        return not self.stopping.is_set()

    # -- Locust ------------------------------------------------------------------------------
    def on_request(self, request_type, name, response_time, response_length, response=None,
                   context=None, exception=None, **_kw):
        end = time.monotonic()
        sent = end - (response_time or 0.0) / 1000.0
        intended = (context or {}).get(INTENDED_KEY) or sent
        status = int(getattr(response, "status_code", 0) or 0)
        error = None
        if exception is not None:
            error = f"HTTP {status}" if status >= 400 else f"{type(exception).__name__}: {str(exception)[:80]}"
        self.rec.record(name, request_type, intended - self.t0, sent - self.t0, end - self.t0,
                        ok=exception is None, status=status, error=error)

    def user_classes(self) -> list[type]:
        spec, worker = self.spec, self
        if spec.locustfile:
            from locust.util.load_locustfile import load_locustfile
            classes, _shapes = load_locustfile(spec.locustfile)
            if not classes:
                raise SystemExit(self.fail("the locustfile defines no User class", spec.locustfile,
                                           "define a class deriving from locust.HttpUser or FastHttpUser"))
            return list(classes.values())
        picker = Picker(spec.requests, None if spec.seed is None else spec.seed + self.index)
        if spec.model in ("open", "replay"):
            class OpenModelUser(FastHttpUser):
                wait_time = constant(0)
                concurrency = spec.max_inflight
                network_timeout = spec.timeout
                connection_timeout = spec.timeout

                @task
                def arrivals(self):
                    try:
                        worker.arrival_loop(self.client, worker.arrivals(picker))
                    except Exception as e:
                        worker.emit({"type": "error", "what": f"the open-model loop failed: {e!r}",
                                     "where": f"load worker {worker.index}",
                                     "hint": f"see load/worker-{worker.index}.log"})
                        raise
                    finally:
                        worker.done.set()
                    raise StopUser()
            return [OpenModelUser]

        class ClosedModelUser(FastHttpUser):
            wait_time = constant(spec.think_time)
            concurrency = 1
            network_timeout = spec.timeout
            connection_timeout = spec.timeout

            @task
            def one_request(self):
                send(self.client, picker.pick())
        return [ClosedModelUser]

    def fail(self, what: str, where: str, hint: str) -> int:
        self.emit({"type": "error", "what": what, "where": where, "hint": hint})
        return 2

    # -- open and replay models ---------------------------------------------------------------
    def arrivals(self, picker: Picker):
        """(run time, request) pairs: the rate's schedule with weighted requests, or the replay's."""
        if self.spec.model == "replay":
            return self.replay.between(self.phases.start_s, self.phases.end_s)
        return ((t, picker.pick()) for t in ArrivalSchedule(self.rate, index=self.index, workers=self.workers))

    def arrival_loop(self, client, arrivals) -> None:
        self.loop_started = True
        self.senders = Senders(self, client, arrivals)
        self.senders.start()
        self.senders.wait()
        self._drain()

    def backlog(self) -> int:
        """Arrivals due but held back by the cap right now (an estimate from the rate)."""
        since = self.senders.full_since if self.senders is not None else None
        if since is None:
            return 0
        now = self.now()
        return round(self.rate.mean_over(since, now) * (now - since) / self.workers)

    def _drain(self) -> None:
        grace = self.cfg.get("stop_grace", 2.0) if self.stopping.is_set() else self.spec.timeout + 1.0
        if self.senders is not None:
            self.senders.join(timeout=grace)
            self.senders.kill()
        self.done.set()

    def inflight(self) -> int:
        return self.senders.inflight if self.senders is not None else 0

    # -- closed model ------------------------------------------------------------------------
    def closed_loop(self) -> None:
        if self.sleep_until(self.phases.start_s):
            n, i = self.workers, self.index
            users = self.spec.users // n + (1 if i < self.spec.users % n else 0)
            if users:
                gevent.spawn(self.ramp, users, self.spec.spawn_rate / n)
            self.sleep_until(self.phases.end_s)
        self.env.runner.stop()
        self.done.set()

    def ramp(self, users: int, rate: float) -> None:
        """Start `users` Locust users, `rate` a second, the classes in turn by weight."""
        order = _by_weight(self.env.user_classes, users)
        for k, cls in enumerate(order):
            if not self.sleep_until(self.phases.start_s + k / rate) or self.now() >= self.phases.end_s:
                return
            self.env.runner.spawn_users({cls.__name__: 1})

    def loop_probe(self) -> None:
        """How late the event loop wakes a sleeping greenlet: the generator's own backlog of
        work, whatever its cause (CPU saturation, or starved by other processes)."""
        while not self.done.is_set():
            began = time.monotonic()
            gevent.sleep(PROBE_S)
            late = time.monotonic() - began - PROBE_S
            self.loop_late = max(self.loop_late, late)
            if self.senders is not None:
                self.senders.grow()
            self.rec.flush()             # a little at a time: a whole second at once holds the loop ~10 ms

    # -- per-second records ------------------------------------------------------------------
    def ticker(self) -> None:
        """Emit one record per second of the load window, plus the seconds of the drain."""
        last_mono, last_cpu = time.monotonic(), _cpu_seconds()
        k = math.floor(self.phases.start_s)
        finished = False
        while not finished:
            finished = self.done.wait(max(0.0, k + 1 + TICK_SLACK_S - self.now()))
            mono, cpu = time.monotonic(), _cpu_seconds()
            frac = (cpu - last_cpu) / max(mono - last_mono, 1e-6)
            last_mono, last_cpu = mono, cpu
            while k + 1 + TICK_SLACK_S <= self.now():
                self.emit_second(k, frac)
                k += 1
        last = max([math.floor(self.now())] + self.rec.pending_seconds())
        while k <= last:
            self.emit_second(k, frac)
            k += 1

    def emit_second(self, k: int, cpu: float) -> None:
        msg = self.rec.pop_second(k)
        runner = self.env.runner if self.env else None
        closed_users = runner.user_count if runner else 0
        msg.update(users=closed_users if self.spec.model == "closed" else self.inflight(),
                   inflight=self.inflight() if self.spec.model != "closed" else closed_users,
                   target_rps=round(self.rate.mean_over(k, k + 1) / self.workers, 3)
                   if self.spec.model == "open" else None,
                   backlog=self.backlog(), cpu=round(cpu, 3))
        msg["loop_late_ms"] = round(self.loop_late * 1000.0, 3)
        self.loop_late = 0.0
        reasons = saturation_reasons(cpu, msg["lag_ms"], msg["loop_late_ms"])
        msg.update(saturated=bool(reasons), reasons=reasons)
        self.cpu_log.append([k, round(cpu, 3)])
        if self.rec.raw is not None:
            self.rec.raw.flush()
        self.emit(msg)

    # -- lifecycle ---------------------------------------------------------------------------
    def run(self, before_final=None, orphan_exit: bool = True) -> int:
        """Send this worker's share; orphan_exit: exit when the parent process goes (a local
        worker; a remote one started from a shell outlives it and ends with its master)."""
        gevent.signal_handler(signal.SIGTERM, self.stopping.set)
        priority = raise_priority()
        if orphan_exit:
            gevent.spawn(watch_parent, os.getppid())
        ticker = gevent.spawn(self.ticker)
        gevent.spawn(self.loop_probe)
        self.emit({"type": "started", "t_s": round(self.now(), 6), "pid": os.getpid()})
        if self.spec.model != "closed":
            if self.sleep_until(self.phases.start_s - 1.0):
                self.env.runner.spawn_users({self.env.user_classes[0].__name__: 1})
            gevent.wait([self.done, self.stopping], count=1)
            if not self.loop_started:       # told to stop before the first arrival
                self.done.set()
            self.done.wait()
        else:
            self.closed_loop()
        ticker.join(timeout=5.0)
        self.env.runner.stop()
        self.rec.close()
        final = self.rec.final()
        final.update(skipped_late_start=self.skipped_late_start, cpu=self.cpu_log, host=socket.gethostname(),
                     stopped_early=self.stopping.is_set(), priority=priority)
        if self.replay is not None:
            final["replay"] = self.replay.report()
        if before_final is not None:
            before_final()
        self.emit(final)
        return 0


def raise_priority() -> str:
    """Every latency is measured from the time a request was meant to go: the event loop's thread
    asks the scheduler to prefer it (nice -10, allowed for root) over the service under test and
    the rest of the machine, so that a busy host delays its sends less. Its CPU use does not
    change; it is the loop, not the service, that waits less for a core. Returns what it got
    ("nice -10", or "nice 0" when not allowed); $HARNESS_LOAD_NICE asks for another value."""
    try:
        want = int(os.environ.get("HARNESS_LOAD_NICE", NICE))
        os.setpriority(os.PRIO_PROCESS, 0, want)        # 0: this thread (Linux nice is per thread)
    except (OSError, ValueError):
        pass
    return f"nice {os.getpriority(os.PRIO_PROCESS, 0)}"


def watch_parent(ppid: int) -> None:
    """Exit when the parent process is gone (the load master's and every worker's)."""
    while True:
        gevent.sleep(0.5)
        if os.getppid() != ppid:
            os._exit(3)              # the harness is gone: no load may outlive it


def _by_weight(classes: list[type], n: int) -> list[type]:
    """n user classes in start order: each class's share by its `weight` (largest remainders;
    all weights zero count as equal), interleaved as Locust's own dispatcher does."""
    weights = [max(float(getattr(c, "weight", 1) or 0), 0.0) for c in classes]
    if not sum(weights):
        weights = [1.0] * len(classes)
    exact = [n * w / sum(weights) for w in weights]
    counts = [math.floor(x) for x in exact]
    for i in sorted(range(len(classes)), key=lambda i: counts[i] - exact[i])[:n - sum(counts)]:
        counts[i] += 1
    order: list[type] = []
    while len(order) < n:
        for i, c in enumerate(classes):
            if counts[i] > 0:
                order.append(c)
                counts[i] -= 1
    return order


def _schedstat():
    try:
        return os.open("/proc/thread-self/schedstat", os.O_RDONLY)
    except OSError:
        return None


_SCHEDSTAT = _schedstat()


def cpu_demand() -> float:
    """Seconds the event loop's thread ran or waited for a CPU (schedstat: on the CPU, on a run
    queue). A worker starved by other processes gets less than 90% of a core yet wants all of
    it: more senders would not help it either. Without schedstat: the process's CPU time."""
    if _SCHEDSTAT is not None:
        try:
            run_ns, wait_ns = os.pread(_SCHEDSTAT, 128, 0).split()[:2]
            return (int(run_ns) + int(wait_ns)) / 1e9
        except (OSError, ValueError):
            pass
    return time.process_time()


def _cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def locust_stats(env: Environment) -> list[dict]:
    """Locust's own per-endpoint statistics (response times bucketed by Locust)."""
    out = []
    for (name, method), s in sorted(env.stats.entries.items()):
        out.append({"name": name, "method": method, "requests": s.num_requests,
                    "failures": s.num_failures, "median_ms": s.median_response_time,
                    "p99_ms": s.get_response_time_percentile(0.99),
                    "avg_ms": round(s.avg_response_time, 3), "max_ms": round(s.max_response_time, 3)})
    return out
