"""The fault helper: a small container that shares a target's network namespace
(`network_mode: container:<id>`, NET_ADMIN and NET_RAW only) and runs tc, ip, ss and iptables
there, for an engine whose containers are not on this host (harness/docker_engine.py).

Its image is built on the engine from what this host has, as the Redis image of the incident
library is: FROM scratch, the host's tc, ip, ss, sleep and both iptables variants
(xtables-nft-multi and xtables-legacy-multi, so the rules are read and removed with the
backend that wrote them), every library `ldd` lists for them, iptables' extensions (its
xtables directory: they are loaded at run time, `ldd` cannot see them) and tc's distribution
tables. No registry is needed. The tag is a hash of the files, so an engine builds it once per
set of binaries. Helper containers carry the run's labels: `harness clean` and the end of the
run remove them with the rest of the project.

The fault proxy (harness/faults/proxy.py) runs on such an engine as a container of its own in
the target's namespace (NET_ADMIN only: its upstream sockets carry SO_MARK), from a second
FROM-scratch image: this host's Python interpreter, the libraries `ldd` lists for it and for
the extension modules the proxy loads, and exactly the modules (standard library and harness)
a started proxy has imported, at the paths they have here. One implementation of every kind's
proxy behaviour serves both engines (docs/DESIGN.md says why this, not a port to Go).
"""
from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

from harness import proc
from harness.errors import CommandError, HarnessError

REPO = "harness-fault-helper"
PROXY_REPO = "harness-fault-proxy"
LABEL_PROXY_FOR = "io.harness.proxy_for"       # the target container a fault proxy serves
LABEL_HELPER_FOR = "io.harness.helper_for"     # the target container a helper serves
TOOLS = {"tc": "/usr/sbin/tc", "ip": "/usr/sbin/ip", "ss": "/usr/bin/ss", "sleep": "/usr/bin/sleep",
         "xtables-nft-multi": "/usr/sbin/xtables-nft-multi", "xtables-legacy-multi": "/usr/sbin/xtables-legacy-multi"}
IPTABLES_NAMES = ("iptables", "iptables-save", "iptables-restore")
DATA_DIRS = ("/usr/lib/x86_64-linux-gnu/xtables", "/usr/lib/x86_64-linux-gnu/tc", "/etc/iproute2")
DATA_FILES = ("/etc/protocols", "/etc/services", "/etc/ethertypes")


@dataclass(frozen=True)
class Rootfs:
    files: dict[str, str]          # path in the image -> path on this host
    links: dict[str, str]          # path in the image -> link target

    def digest(self) -> str:
        h = hashlib.sha256()
        for dest, src in sorted(self.files.items()):
            st = os.stat(src)
            h.update(f"{dest}\0{st.st_size}\0{int(st.st_mtime)}\0".encode())
        for dest, target in sorted(self.links.items()):
            h.update(f"{dest}->{target}\0".encode())
        return h.hexdigest()[:16]


def rootfs() -> Rootfs:
    """What the helper image holds, from this host's files; a HarnessError names what is missing."""
    files: dict[str, str] = {}
    missing = []
    for name, path in TOOLS.items():
        found = _find(name, path)
        if found is None:
            missing.append(name)
        else:
            files[path] = found
    if missing:
        raise HarnessError("the fault helper's image needs tools this host lacks", where="fault helper",
                           seen=", ".join(missing), hint="install iproute2, iptables and coreutils "
                                                         "(the README's set-up command does)")
    for d in DATA_DIRS:
        if Path(d).is_dir():
            files.update({str(p): str(p) for p in Path(d).rglob("*") if p.is_file()})
    files.update({f: f for f in DATA_FILES if Path(f).is_file()})
    for lib in _libraries([p for p in files.values() if _is_elf(p)]):
        files[lib] = os.path.realpath(lib)
    default = _iptables_variant()
    links = {f"/usr/sbin/{n}": default for n in IPTABLES_NAMES}
    links.update({f"/usr/sbin/{n.replace('iptables', 'iptables-legacy')}": "xtables-legacy-multi"
                  for n in IPTABLES_NAMES})
    links.update({f"/usr/sbin/{n.replace('iptables', 'iptables-nft')}": "xtables-nft-multi" for n in IPTABLES_NAMES})
    links["/usr/bin/ip"] = "/usr/sbin/ip"
    return Rootfs(files, links)


def _iptables_variant() -> str:
    """The multi-call binary `iptables` is here (nft or legacy): the helper's `iptables` is the
    same, as the local path uses this host's `iptables`."""
    found = shutil.which("iptables")
    name = os.path.basename(os.path.realpath(found)) if found else ""
    return name if name in ("xtables-nft-multi", "xtables-legacy-multi") else "xtables-nft-multi"


def _find(name: str, path: str) -> str | None:
    for cand in (path, shutil.which(name)):
        if cand and os.path.isfile(cand) and os.access(cand, os.X_OK):
            return os.path.realpath(cand)
    return None


def _is_elf(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


_LDD = re.compile(r"(?:=>\s*)?(/\S+)\s+\(0x")


def _libraries(binaries: list[str], env: dict | None = None) -> set[str]:
    """Every shared library (and the loader) `ldd` lists for the binaries, at its own path."""
    out: set[str] = set()
    for b in binaries:
        res = proc.run(["ldd", b], timeout=20, check=False, env=env)
        out.update(m.group(1) for m in _LDD.finditer(res.stdout))
    return out


HELPER_DOCKERFILE = b"FROM scratch\nCOPY rootfs/ /\nCMD [\"/usr/bin/sleep\", \"infinity\"]\n"
HELPER_DIRS = {"/tmp": 0o1777, "/run": 0o1777}     # xtables' lock lives in /run


def context(fs: Rootfs, dockerfile: bytes = HELPER_DOCKERFILE, dirs: dict[str, int] = HELPER_DIRS) -> bytes:
    """The build context: the Dockerfile and rootfs/ (`dirs` with their modes, then the files
    and links), as a tar stream."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        _add_bytes(tar, "Dockerfile", dockerfile)
        for d, mode in dirs.items():
            info = tarfile.TarInfo("rootfs" + d)
            info.type, info.mode = tarfile.DIRTYPE, mode
            tar.addfile(info)
        for dest, src in sorted(fs.files.items()):
            tar.add(src, arcname="rootfs" + dest, recursive=False)
        for dest, target in sorted(fs.links.items()):
            info = tarfile.TarInfo("rootfs" + dest)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return buf.getvalue()


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def image(client) -> str:
    """The helper image's tag on the engine, built there first when it is not yet."""
    return _image(client, REPO, rootfs())


def _image(client, repo: str, fs: Rootfs, dockerfile: bytes = HELPER_DOCKERFILE) -> str:
    import docker.errors

    tag = f"{repo}:{fs.digest()}"
    try:
        client.images.get(tag)
        return tag
    except docker.errors.ImageNotFound:
        pass
    try:
        client.images.build(fileobj=io.BytesIO(context(fs, dockerfile)), custom_context=True, tag=tag, rm=True,
                            labels={"io.harness.helper_image": "1"}, timeout=300)
    except docker.errors.BuildError as e:
        raise HarnessError(f"the image {repo} did not build on the engine", where="fault helper",
                           seen=str(e)[:300], hint="see the engine's log") from None
    return tag


def run_labels(target) -> dict[str, str]:
    """The run's labels of a target container: a helper or proxy beside it carries them, so the
    end of the run, the watchdog and `harness clean` remove it with the project."""
    return {k: v for k, v in (target.labels or {}).items() if k.startswith("io.harness.")}


def start(client, target: str, labels: dict[str, str]):
    """A helper in `target`'s network namespace, labelled as the run's and as `target`'s helper."""
    return client.containers.run(image(client), detach=True, network_mode=f"container:{target}",
                                 cap_add=["NET_ADMIN", "NET_RAW"], cap_drop=["ALL"], auto_remove=False,
                                 labels={**labels, LABEL_HELPER_FOR: target},
                                 name=f"harness-helper-{target[:12]}-{os.getpid()}")


def probe(client, argv: list[str], input: str | None = None, timeout: float = 30.0) -> tuple[int, str]:
    """argv in a throw-away helper with a network namespace of its own (the engine host's kernel,
    as `unshare --net` gives this host's): (exit code, output). `input` becomes a file whose path
    replaces a "-" argument (the image has no shell to pipe it)."""
    if input is not None:
        argv = ["/tmp/probe-input" if a == "-" else a for a in argv]
    c = client.containers.create(image(client), argv, network_mode="none", cap_add=["NET_ADMIN", "NET_RAW"],
                                 cap_drop=["ALL"], labels={"io.harness.helper_probe": "1"})
    try:
        if input is not None:
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w") as tar:
                _add_bytes(tar, "probe-input", input.encode())
            c.put_archive("/tmp", buf.getvalue())
        c.start()
        code = int(c.wait(timeout=timeout).get("StatusCode", -1))
        return code, c.logs(stdout=True, stderr=True).decode(errors="replace")
    finally:
        c.remove(force=True)


def find(client, target: str):
    """The running helper of `target`, or None."""
    found = client.containers.list(filters={"label": f"{LABEL_HELPER_FOR}={target}", "status": "running"})
    return found[0] if found else None


class HelperGone(Exception):
    """The helper container is not there, or not running, any more."""


def run(container, argv: list[str], *, check: bool = True, what: str | None = None) -> subprocess.CompletedProcess:
    """argv in the helper (in its target's network namespace), as proc.run would run it here;
    HelperGone when the helper no longer runs."""
    import docker.errors
    try:
        res = container.exec_run(argv, demux=True)
    except docker.errors.APIError as e:
        if e.status_code in (404, 409):
            raise HelperGone(container.id) from None
        raise
    out, err = (b.decode(errors="replace") if b else "" for b in res.output)
    done = subprocess.CompletedProcess(argv, res.exit_code, out, err)
    if check and res.exit_code != 0:
        raise CommandError(what or f"{argv[0]} failed in the fault helper", cmd=argv, returncode=res.exit_code,
                           stdout=out, stderr=err)
    return done


# -- the fault proxy on a remote engine ------------------------------------------------------------
# Run by this host's interpreter: it starts a proxy as the container will (listeners, a connection,
# the lazily imported modules) and prints what was loaded. Nothing listens beyond 127.0.0.1.
_CLOSURE = r"""
import asyncio, json, os, sys, traceback, linecache, tokenize
import harness.faults.proxy, harness.undo.steps
from harness.faults import registry
registry.kinds()                       # every kind's module, its proxy behaviour included

async def touch():
    srv = await asyncio.start_server(lambda r, w: w.close(), ["127.0.0.1"], 0)
    port = srv.sockets[0].getsockname()[1]
    _, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 5)
    w.close()
    srv.close()
    await srv.wait_closed()
asyncio.run(touch())
files = sorted({m.__file__ for m in list(sys.modules.values()) if isinstance(getattr(m, "__file__", None), str)})
print(json.dumps({"files": files, "home": sys.base_prefix, "python": os.path.realpath(sys.executable)}))
"""


@dataclass(frozen=True)
class ProxyImage:
    fs: Rootfs
    python: str                    # the interpreter, at its path on this host and in the image
    env: dict[str, str]            # PYTHONHOME and PYTHONPATH


def proxy_rootfs() -> ProxyImage:
    """The proxy image's files: this interpreter, its libraries, and the modules a proxy loads."""
    path = _harness_path()
    res = proc.run([sys.executable, "-S", "-c", _CLOSURE], timeout=60, check=False,
                   env={**os.environ, "PYTHONPATH": path})
    try:
        found = json.loads(res.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise HarnessError("could not list what the fault proxy loads", where="fault proxy image",
                           seen=(res.stderr or res.stdout)[-300:], hint="run `harness doctor`") from None
    files = {f: os.path.realpath(f) for f in found["files"] if os.path.isfile(f)}
    for f in found["files"]:           # their compiled forms: a proxy that compiles 190 modules first
        if f.endswith(".py"):          # starts a second later on a busy engine
            cached = importlib.util.cache_from_source(f)
            if os.path.isfile(cached):
                files[cached] = cached
    files[found["python"]] = found["python"]
    for lib in _libraries([found["python"], *(f for f in files.values() if f.endswith(".so"))]):
        files[lib] = os.path.realpath(lib)
    env = {"PYTHONHOME": found["home"], "PYTHONPATH": path, "PYTHONDONTWRITEBYTECODE": "1"}
    return ProxyImage(Rootfs(files, {}), found["python"], env)


def _harness_path() -> str:
    import harness
    return str(Path(harness.__file__).resolve().parent.parent)


_PROXY_IMAGES: dict[str, tuple[str, ProxyImage]] = {}     # engine -> (tag, image), this process's


def proxy_image(client) -> tuple[str, ProxyImage]:
    """The proxy image's tag on the engine (built there first when it is not yet; once per
    engine and process) and how to run it."""
    key = client.api.base_url
    if key not in _PROXY_IMAGES:
        pi = proxy_rootfs()
        _PROXY_IMAGES[key] = (_image(client, PROXY_REPO, pi.fs, b"FROM scratch\nCOPY rootfs/ /\n"), pi)
    return _PROXY_IMAGES[key]


def start_proxy(client, target, name: str, args: list[str], timeout: float = 20.0):
    """The fault proxy (`python -m harness.faults.proxy ARGS`) as a container in `target`'s
    network namespace, with the target's run labels; returns once it listens. A proxy that
    exits or stays silent raises HarnessError with its output (and is removed)."""
    tag, pi = proxy_image(client)
    c = client.containers.run(tag, [pi.python, "-S", "-m", "harness.faults.proxy", *args],
                              detach=True, name=name, network_mode=f"container:{target.id}", environment=pi.env,
                              cap_add=["NET_ADMIN"], cap_drop=["ALL"],
                              labels={**run_labels(target), LABEL_PROXY_FOR: target.id})
    deadline = time.monotonic() + timeout
    while True:
        out = c.logs(stdout=True, stderr=True).decode(errors="replace")
        if "listening" in out.splitlines():
            return c
        c.reload()
        if c.status not in ("created", "running") or time.monotonic() > deadline:
            seen = out.strip()[-400:] or f"status {c.status}, no output"
            c.remove(force=True)
            raise HarnessError("the fault proxy did not start on the engine", where=f"fault proxy {name}",
                               seen=seen, hint="see the engine's log; `harness doctor` checks the proxy's needs")
        time.sleep(0.05)


def remove_named(client, name: str) -> bool:
    """Remove the container `name` (True), or find it gone (False)."""
    import docker.errors
    try:
        client.containers.get(name).remove(force=True)
        return True
    except docker.errors.NotFound:
        return False
