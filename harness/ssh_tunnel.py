"""An ssh:// Docker engine: one ssh connection the harness opens and closes.

`ssh://[USER@]HOST[:PORT][/PATH/TO/docker.sock]` (the socket defaults to /var/run/docker.sock).
The harness starts one ssh master connection to HOST (`ssh -N -M`, BatchMode: keys or an agent,
never a password prompt) that forwards the engine's unix socket to a port on this host's
loopback; the SDK, compose and the watchdog talk to the engine through it as through any
tcp:// engine. The environment's ports are published on the engine host's loopback (so nobody
else on its network reaches them) and forwarded, each once, through the same connection
(`ssh -O forward`) to ports on this host's loopback, where load, readiness and captures reach
them.

The ssh command and its options come from $HARNESS_SSH_COMMAND (as GIT_SSH_COMMAND: e.g.
`ssh -i ~/.ssh/build -o StrictHostKeyChecking=accept-new`), else `ssh` with the user's
~/.ssh/config. The master runs in a session of its own, so a Ctrl-C of the harness does not cut
the engine off before the teardown; the harness closes it at exit; after a SIGKILL the
watchdog closes it once it has torn the run down (the run directory's tunnel.pid).
"""
from __future__ import annotations

import os
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from harness.errors import HarnessError

SSH_COMMAND_ENV = "HARNESS_SSH_COMMAND"
DEFAULT_SOCKET = "/var/run/docker.sock"
MARKER = "harness-ssh-"                 # in the control socket's path, so in the master's command line
PIDFILE = "tunnel.pid"


@dataclass(frozen=True)
class Destination:
    user: str | None
    host: str
    port: int | None
    socket: str

    @property
    def login(self) -> str:
        return f"{self.user}@{self.host}" if self.user else self.host


def parse(url: str, where: str) -> Destination:
    """ssh://[user@]host[:port][/socket path]; a HarnessError names what is wrong."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme != "ssh" or not parts.hostname or port == -1 or parts.query or parts.fragment:
        raise HarnessError("not an ssh:// Docker engine address", where=where, seen=url,
                           hint="ssh://[USER@]HOST[:PORT][/PATH/TO/docker.sock]")
    return Destination(unquote(parts.username) if parts.username else None, parts.hostname, port,
                       unquote(parts.path) if parts.path not in ("", "/") else DEFAULT_SOCKET)


def ssh_command() -> list[str]:
    cmd = shlex.split(os.environ.get(SSH_COMMAND_ENV) or "ssh")
    if not cmd or shutil.which(cmd[0]) is None:
        raise HarnessError("no ssh client for the ssh:// Docker engine", where=SSH_COMMAND_ENV,
                           seen=os.environ.get(SSH_COMMAND_ENV) or "ssh (not on PATH)",
                           hint="install openssh-client, or set HARNESS_SSH_COMMAND")
    return cmd


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Tunnel:
    """The ssh master connection of one ssh:// engine: open(), forward(port), close()."""

    def __init__(self, url: str, where: str):
        self.url, self.where = url, where
        self.dest = parse(url, where)
        self.proc: subprocess.Popen | None = None
        self.local_port: int | None = None
        self._dir: str | None = None
        self._forwards: dict[int, int] = {}     # engine host's port -> this host's

    @property
    def engine_url(self) -> str:
        return f"tcp://127.0.0.1:{self.local_port}"

    def _ssh(self, *args: str) -> list[str]:
        port = ["-p", str(self.dest.port)] if self.dest.port else []
        return [*ssh_command(), "-S", self._control, *port, *args, self.dest.login]

    @property
    def _control(self) -> str:
        return os.path.join(self._dir, "control")

    def open(self, timeout: float = 30.0) -> str:
        """Connect and forward the engine's socket; the tcp:// URL the engine is reached at."""
        self._dir = tempfile.mkdtemp(prefix=MARKER)
        self.local_port = _free_port()
        argv = self._ssh("-N", "-M", "-o", "ControlPersist=no", "-o", "BatchMode=yes",
                         "-o", "ExitOnForwardFailure=yes", "-o", "ServerAliveInterval=15",
                         "-L", f"127.0.0.1:{self.local_port}:{self.dest.socket}")
        errlog = Path(self._dir) / "ssh.log"
        with open(errlog, "wb") as err:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                                         start_new_session=True)
        deadline = time.monotonic() + timeout
        last, closed = "no answer", 0
        while True:
            if self.proc.poll() is not None:
                port = f"-p {self.dest.port} " if self.dest.port else ""
                seen = errlog.read_text(errors="replace").strip()[-300:] or f"ssh exited with {self.proc.returncode}"
                self.close()
                raise HarnessError(f"could not reach the Docker engine over ssh at {self.dest.login}",
                                   where=self.where, seen=seen,
                                   hint=f"`ssh {port}{self.dest.login} true` must work without a prompt (a key or "
                                        "an agent); options in HARNESS_SSH_COMMAND")
            ok, last = _ping(self.local_port)
            if ok:
                return self.engine_url
            # listening, but each connection is closed at once: the far end refuses the socket
            closed = closed + 1 if ("reset" in last or last == "connection closed") else 0
            if closed >= 3 or time.monotonic() > deadline:
                last = f"{last} ({closed} times in a row)" if closed >= 3 else f"{last} within {timeout:g}s"
                self.close()
                raise HarnessError(f"the Docker engine did not answer through ssh at {self.dest.login}",
                                   where=self.where, seen=f"{self.dest.socket}: {last}",
                                   hint="is dockerd running there, at that socket? give its path as "
                                        "ssh://HOST/PATH/TO/docker.sock; may this user use it?")
            time.sleep(0.1)

    def forward(self, remote_port: int) -> int:
        """This host's loopback port that reaches `remote_port` on the engine host's loopback."""
        if remote_port not in self._forwards:
            local = _free_port()
            res = subprocess.run(self._ssh("-O", "forward", "-L", f"127.0.0.1:{local}:127.0.0.1:{remote_port}"),
                                 capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)
            if res.returncode != 0:
                raise HarnessError(f"could not forward the engine host's port {remote_port} over ssh",
                                   where=self.where, seen=(res.stderr or res.stdout).strip()[-300:],
                                   hint="the ssh server must allow TCP forwarding (AllowTcpForwarding)")
            self._forwards[remote_port] = local
        return self._forwards[remote_port]

    def close(self) -> None:
        """End the connection (every forward with it). Idempotent."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None


def _ping(port: int) -> tuple[bool, str]:
    """Whether the engine answers its /_ping through the forwarded port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            data = b""
            while chunk := s.recv(4096):
                data += chunk
    except OSError as e:
        return False, str(e)
    head = data.split(b"\r\n", 1)[0].decode(errors="replace")
    return head.split()[1:2] == ["200"], head or "connection closed"
