"""An ssh server for the tests of ssh:// engines: OpenSSH's sshd from Debian's package (fetched with
`apt-get download` and unpacked, never installed: no service is added to this host) in a
FROM-scratch container on the host's network, listening on 127.0.0.1 only, with this machine's
Docker socket mounted: "another machine" whose engine is reached over ssh. Root logs in with a
key made for the test."""
from __future__ import annotations

import io
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from harness.faults import helper

CACHE = Path(tempfile.gettempdir()) / "harness-tests-sshd"
PACKAGES = ("openssh-server", "libwrap0")
SOCKET = "/var/run/docker.sock"
# sshd's privilege separation directory /run/sshd, and every directory above it, must be root's
# and not writable by others (sshd checks); /var/run holds the mounted socket
DIRS = {"/run": 0o755, "/run/sshd": 0o755, "/var": 0o755, "/var/run": 0o755, "/tmp": 0o1777}


def unpacked() -> Path:
    """The packages' files under CACHE/root (downloaded once per machine)."""
    root = CACHE / "root"
    if (root / "usr/sbin/sshd").exists():
        return root
    CACHE.mkdir(exist_ok=True)
    res = _download()
    if res.returncode != 0:               # a fresh machine may have no package lists yet
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True, timeout=300)
        res = _download()
    if res.returncode != 0:
        pytest.fail(f"apt-get download {' '.join(PACKAGES)} failed: {res.stderr[-500:]}")
    for deb in CACHE.glob("*.deb"):
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True, timeout=60)
    return root


def _download() -> subprocess.CompletedProcess:
    return subprocess.run(["apt-get", "download", *PACKAGES], cwd=CACHE, capture_output=True, text=True, timeout=300)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sshd:
    def __init__(self, client, work: Path):
        self.client, self.work = client, work
        self.port = _free_port()
        self.key = work / "id_ed25519"
        self.container = None

    @property
    def url(self) -> str:
        return f"ssh://root@127.0.0.1:{self.port}"

    @property
    def ssh_command(self) -> str:
        """HARNESS_SSH_COMMAND for the harness: the test's key, no known_hosts."""
        return (f"ssh -i {self.key} -o IdentitiesOnly=yes -o UserKnownHostsFile=/dev/null "
                "-o StrictHostKeyChecking=no -o LogLevel=ERROR")

    def start(self) -> None:
        root = unpacked()
        files = self._files(root)
        lib_dir = root / "usr/lib/x86_64-linux-gnu"       # libwrap, unpacked beside sshd
        libs = helper._libraries([str(root / "usr/sbin/sshd"), files["/bin/sh"]],
                                 env={"LD_LIBRARY_PATH": str(lib_dir), "PATH": "/usr/bin:/bin"})
        for lib in libs:
            dest = "/usr/lib/x86_64-linux-gnu/" + Path(lib).name if lib.startswith(str(root)) else lib
            files.setdefault(dest, str(Path(lib).resolve()))
        files["/usr/sbin/sshd"] = str(root / "usr/sbin/sshd")
        fs = helper.Rootfs(files, {})
        tag = "harness-test-sshd:" + fs.digest()
        self.client.images.build(fileobj=io.BytesIO(helper.context(fs, b"FROM scratch\nCOPY rootfs/ /\n", DIRS)),
                                 custom_context=True, tag=tag, rm=True, labels={"io.harness.test": "sshd"},
                                 timeout=300)
        self.container = self.client.containers.run(
            tag, ["/usr/sbin/sshd", "-D", "-e", "-f", "/etc/ssh/sshd_config"], detach=True, network_mode="host",
            volumes={SOCKET: {"bind": SOCKET, "mode": "rw"}}, labels={"io.harness.test": "sshd"},
            name=f"harness-test-sshd-{self.port}")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    if s.recv(64).startswith(b"SSH-"):
                        return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"sshd did not listen: {self.logs()}")

    def _files(self, root: Path) -> dict[str, str]:
        w = self.work
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.key)], check=True, timeout=30)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(w / "host_key")], check=True,
                       timeout=30)
        (w / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\nsshd:x:101:65534::/run/sshd:/bin/false\n")
        (w / "group").write_text("root:x:0:\nnogroup:x:65534:\n")
        (w / "sshd_config").write_text(
            f"ListenAddress 127.0.0.1:{self.port}\nHostKey /etc/ssh/host_key\nPermitRootLogin prohibit-password\n"
            "AuthorizedKeysFile /root/.ssh/authorized_keys\nStrictModes no\nUsePAM no\nAllowTcpForwarding yes\n"
            "AllowStreamLocalForwarding yes\nPidFile none\nLogLevel DEBUG1\n")
        return {"/etc/passwd": str(w / "passwd"), "/etc/group": str(w / "group"),
                "/etc/ssh/sshd_config": str(w / "sshd_config"), "/etc/ssh/host_key": str(w / "host_key"),
                "/root/.ssh/authorized_keys": str(w / "id_ed25519.pub"), "/bin/sh": str(Path("/bin/sh").resolve())}

    def logs(self) -> str:
        return self.container.logs().decode(errors="replace") if self.container else ""

    def stop(self) -> None:
        if self.container is not None:
            self.container.remove(force=True)

