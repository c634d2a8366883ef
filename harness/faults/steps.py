"""Plans and steps: what a backend does, as data.

A backend turns a fault into a Plan: `do` steps that apply it and `undo` steps that
revert it. Steps are plain JSON-able dicts, so the ledger holds the exact undo of every
fault before it is applied and the watchdog (another process) can replay it.

The steps faults write (registered with the undo journal's runner, harness/undo/steps.py,
which also runs the generic `spawn` and `kill-pidfile`):
  ns                {container, argv, ignore_errors}    run argv inside the container's network namespace
  tc-claim-root     {container, dev, handle}            refuse unless the root qdisc is the kernel default
  tc-release-root   {container, dev, handle}            delete the root qdisc only if it carries our handle
  tc-claim-ingress  {container, dev}                    refuse if an ingress/clsact qdisc already exists
  tc-release-ingress{container, dev, ifb}               delete the ingress qdisc only if it redirects to our IFB
  kill-flows        {container, outbound?, inbound?,    close the target's established TCP connections that
                     exclude_ports, mark}               a new REDIRECT rule covers (ss -K), so kept-alive
                                                        connections reconnect through the proxy
  docker            {container, call, kwargs}           a docker SDK call on the container
  docker-update     {container, body}                   POST /containers/{id}/update (limits)
  proxy-container   {container, name, args}             the fault proxy as a container in the target's
                                                        network namespace (a remote engine: helper.py)
  remove-container  {name}                              remove that container (gone already: fine)
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

from harness import docker_engine as engine
from harness import proc
from harness.errors import HarnessError
from harness.faults import helper
from harness.undo.steps import ContainerGone, StepRunner, ns_argv, operation

log = logging.getLogger("harness.faults")

NS_TIMEOUT = 10.0
DEFAULT_ROOT_KINDS = ("noqueue", "pfifo_fast", "mq", "fq_codel", "pfifo", "fq")


@dataclass
class Plan:
    """do/undo steps of one fault; `shared` lists (id, Plan) of run-wide objects the fault
    needs (e.g. the htb root of an interface), applied once and reverted by revert_all."""
    backend: str
    do: list[dict] = field(default_factory=list)
    undo: list[dict] = field(default_factory=list)
    detail: dict = field(default_factory=dict)
    shared: list = field(default_factory=list)


def ns(runner: StepRunner, container: str, argv: list[str], *, check: bool = True, what: str | None = None):
    """Run argv in a container's network namespace: with nsenter from here for a local engine,
    in the container's fault helper for a remote one (harness/faults/helper.py)."""
    if engine.current().local:
        return proc.run(ns_argv(runner.pid(container), argv), timeout=NS_TIMEOUT, check=check, what=what)
    try:
        return helper.run(helper_of(runner, container), argv, check=check, what=what)
    except helper.HelperGone:        # the helper this process knew is gone: find or start it once more
        _HELPERS.pop(container, None)
        return helper.run(helper_of(runner, container), argv, check=check, what=what)


_HELPERS: dict[str, object] = {}      # target container -> its helper (this process's view)


def helper_of(runner: StepRunner, container: str):
    """The running helper of `container`: the one this process knows (not asked again: each
    engine call is a round trip, over ssh a slow one; ns() asks anew when it is gone), one a
    process before it left (the watchdog after a SIGKILL), or a new one with the target's run
    labels (so the end of the run and `harness clean` remove it with the project);
    ContainerGone when the target does not run."""
    known = _HELPERS.get(container)
    if known is not None:
        return known
    target = _running(runner, container)
    found = helper.find(runner.docker, target.id) or helper.start(runner.docker, target.id, helper.run_labels(target))
    _HELPERS[container] = found
    return found


def _running(runner: StepRunner, container: str):
    """The container, running; ContainerGone otherwise."""
    import docker.errors
    try:
        target = runner.docker.containers.get(container)
    except docker.errors.NotFound:
        raise ContainerGone(container) from None
    if target.status != "running":
        raise ContainerGone(container)
    return target


def remove_helpers() -> list[str]:
    """Remove the helpers this process started or found (after the last revert); problems."""
    import docker.errors

    problems = []
    for container, h in list(_HELPERS.items()):
        try:
            h.remove(force=True)
        except docker.errors.NotFound:
            pass
        except Exception as e:  # noqa: BLE001 - the engine is away: harness clean removes it by label
            problems.append(f"fault helper of {container[:12]}: {e}")
        _HELPERS.pop(container, None)
    return problems


def qdiscs(runner: StepRunner, container: str, dev: str) -> list[dict]:
    res = ns(runner, container, ["tc", "-j", "qdisc", "show", "dev", dev])
    return json.loads(res.stdout or "[]")


@operation("ns")
def _ns(runner: StepRunner, s: dict) -> None:
    try:
        ns(runner, s["container"], s["argv"], check=not s.get("ignore_errors"))
    except ContainerGone:
        if not s.get("ignore_errors"):
            raise HarnessError("the target container is not running", where=s["container"][:12],
                               hint="a fault needs a running target; check the phase order") from None
        raise


@operation("tc-claim-root")
def _tc_claim_root(runner: StepRunner, s: dict) -> None:
    root = next((q for q in qdiscs(runner, s["container"], s["dev"]) if q.get("root")), None)
    if root is None or (root.get("handle") in ("0:", None) and root.get("kind") in DEFAULT_ROOT_KINDS):
        return
    raise HarnessError(f"{s['dev']} in the target already has a root qdisc that is not the kernel default "
                       "(the harness did not create it for this fault)",
                       where=s["container"][:12], seen=f"root qdisc {root.get('kind')} handle {root.get('handle')}",
                       hint="a qdisc is never replaced: one root-qdisc fault per interface at a time; "
                            "remove the other qdisc, move one fault to another phase, or use backend: proxy")


@operation("tc-release-root")
def _tc_release_root(runner: StepRunner, s: dict) -> None:
    root = next((q for q in qdiscs(runner, s["container"], s["dev"]) if q.get("root")), None)
    if root is None or root.get("handle") != s["handle"]:
        log.info("root qdisc of %s is not ours (%s); left alone", s["dev"], root and root.get("handle"))
        return
    ns(runner, s["container"], ["tc", "qdisc", "del", "dev", s["dev"], "root", "handle", s["handle"]])


@operation("tc-claim-ingress")
def _tc_claim_ingress(runner: StepRunner, s: dict) -> None:
    taken = [q for q in qdiscs(runner, s["container"], s["dev"]) if q.get("kind") in ("ingress", "clsact")]
    if taken:
        raise HarnessError(f"{s['dev']} in the target already has an {taken[0]['kind']} qdisc",
                           where=s["container"][:12], seen=json.dumps(taken[0]),
                           hint="the harness never replaces qdiscs it did not create; "
                                "use backend: proxy for inbound faults on this target")


@operation("tc-release-ingress")
def _tc_release_ingress(runner: StepRunner, s: dict) -> None:
    res = ns(runner, s["container"], ["tc", "filter", "show", "dev", s["dev"], "parent", "ffff:"], check=False)
    if s["ifb"] not in res.stdout:
        log.info("ingress qdisc of %s does not redirect to %s; left alone", s["dev"], s["ifb"])
        return
    ns(runner, s["container"], ["tc", "qdisc", "del", "dev", s["dev"], "handle", "ffff:", "ingress"])


@operation("kill-flows")
def _kill_flows(runner: StepRunner, s: dict) -> None:
    """NAT rules only catch new connections: a client with a kept-alive pool would never
    see the fault. Close the established connections the rules cover (the kernel's socket
    destroy, `ss -K`); clients reconnect, through the proxy. Best effort: a kernel without
    socket destroy keeps them, which is logged."""
    listening = _listening_ports(runner, s["container"])
    for flt in kill_filters(s.get("outbound"), s.get("inbound"), listening, s.get("mark"),
                            spared=s.get("exclude_ports") or ()):
        res = ns(runner, s["container"], ["ss", "-K", "-t", "-n", "state", "established", flt], check=False)
        if res.returncode != 0:
            log.warning("could not close existing connections (%s): %s", flt, res.stderr.strip())
        else:
            closed = max(len(res.stdout.strip().splitlines()) - 1, 0)
            log.info("closed %d existing connection(s) matching %s", closed, flt)


def _listening_ports(runner: StepRunner, container: str) -> list[int]:
    res = ns(runner, container, ["ss", "-H", "-l", "-t", "-n"], check=False)
    ports = set()
    for line in res.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 4 and ":" in parts[3]:
            port = parts[3].rsplit(":", 1)[1]
            if port.isdigit():
                ports.add(int(port))
    return sorted(ports)


@operation("proxy-container")
def _proxy_container(runner: StepRunner, s: dict) -> None:
    target = _running(runner, s["container"])
    helper.remove_named(runner.docker, s["name"])          # a leftover of an interrupted apply
    helper.start_proxy(runner.docker, target, s["name"], list(s["args"]))


@operation("remove-container")
def _remove_container(runner: StepRunner, s: dict) -> None:
    helper.remove_named(runner.docker, s["name"])


@operation("docker-update")
def _docker_update(runner: StepRunner, s: dict) -> None:
    import docker.errors
    api = runner.docker.api
    try:
        res = api._post_json(api._url("/containers/{0}/update", s["container"]), data=s["body"])
        api._raise_for_status(res)
    except docker.errors.NotFound:
        raise ContainerGone(s["container"]) from None
    except docker.errors.APIError as e:
        raise HarnessError("docker update failed", where=s["container"][:12],
                           seen=f"{s['body']}: {e.explanation or e}",
                           hint="check the value against the host (CPUs, memory in use)") from None


@operation("docker")
def _docker(runner: StepRunner, s: dict) -> None:
    import docker.errors
    runner.forget_pids()                 # a docker call may give the container a new process
    try:
        c = runner.docker.containers.get(s["container"])
        call = s["call"]
        kwargs = dict(s.get("kwargs") or {})
        if call == "unpause" and not c.attrs["State"].get("Paused"):
            return
        if call == "start" and c.attrs["State"].get("Running"):
            return
        DOCKER_CALLS[call](c, **kwargs)
    except docker.errors.NotFound:
        raise ContainerGone(s["container"]) from None
    except docker.errors.APIError as e:
        raise HarnessError(f"docker {s['call']} failed", where=s["container"][:12],
                           seen=str(e.explanation or e), hint="see the Docker engine's log") from None


# The container calls a `docker` step may make (harness/faults/backends/docker.py).
DOCKER_CALLS = {
    "pause": lambda c, **kw: c.pause(**kw),
    "unpause": lambda c, **kw: c.unpause(**kw),
    "stop": lambda c, **kw: c.stop(**kw),
    "start": lambda c, **kw: c.start(**kw),
    "kill": lambda c, **kw: c.kill(**kw),
    "restart": lambda c, **kw: c.restart(**kw),
}


def kill_filters(outbound: dict | None, inbound: dict | None, listening: list[int],
                 mark: str | None, spared=()) -> list[str]:
    """ss filters for the connections a proxy fault's REDIRECT rules cover (pure; tested).

    outbound: {"ip": peer or None, "port": peer port or None}: connections the target opened
    (never a connection into one of its `listening` ports). inbound: {"port": own port or None}:
    connections into the target (None port: any of its listening ports but the `spared` ones:
    the proxy's and the harness's capture ports). The proxy's own upstream sockets carry `mark`
    and are left alone.
    """
    filters = []
    nomark = f" and not fwmark = {mark}" if mark else ""
    serving = " or ".join(f"sport = :{p}" for p in listening)
    if outbound is not None:
        if outbound.get("ip"):
            dst = f"dst {outbound['ip']}" + (f" and dport = :{outbound['port']}" if outbound.get("port") else "")
        else:
            dst = "not dst 127.0.0.0/8" + (f" and dport = :{outbound['port']}" if outbound.get("port") else "")
        client = f" and not ( {serving} )" if serving else ""
        filters.append(f"( {dst}{client}{nomark} )")
    if inbound is not None:
        if inbound.get("port"):
            filters.append(f"( sport = :{inbound['port']} and not src 127.0.0.0/8 )")
        else:
            served = " or ".join(f"sport = :{p}" for p in listening if p not in spared)
            if served:
                filters.append(f"( ( {served} ) and not src 127.0.0.0/8 )")
    return filters
