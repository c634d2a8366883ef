"""Headless Chromium driven over the DevTools protocol, standard library only.

Chromium's --remote-debugging-pipe speaks the DevTools protocol on file descriptors 3 (commands in)
and 4 (replies and events out), one JSON message per NUL-terminated record: no WebSocket, no npm
package, nothing to install besides the browser (scripts/test.sh installs chromium).

    with Browser() as b:
        b.goto(Path("report.html").as_uri())
        b.eval("document.title")
        b.click(120, 300)            # a real mouse click (Input.dispatchMouseEvent)
        b.screenshot(Path("x.png"))
"""
from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path


class BrowserError(RuntimeError):
    pass


class Browser:
    def __init__(self, width: int = 1200, height: int = 900, timeout: float = 60.0):
        self.chromium = shutil.which("chromium") or "/usr/bin/chromium"
        self.size = (width, height)
        self.timeout = timeout
        self.seq = 0
        self.buf = b""
        self.session = None

    def __enter__(self) -> Browser:  # noqa: PYI034 - not subclassed
        self.profile = tempfile.mkdtemp(prefix="harness-cdp-")
        cmd_r, self.cmd_w = os.pipe()
        self.out_r, out_w = os.pipe()
        # --remote-debugging-pipe wants the pipe on the child's fds 3 and 4: bash puts them there (no
        # Python code runs in the child); copies above 9 cannot be overwritten by the moves.
        hi_r, hi_w = fcntl.fcntl(cmd_r, fcntl.F_DUPFD, 10), fcntl.fcntl(out_w, fcntl.F_DUPFD, 10)
        for fd in (cmd_r, out_w):
            os.close(fd)
        args = [self.chromium, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
                "--disable-background-networking", "--no-first-run", "--hide-scrollbars",
                f"--user-data-dir={self.profile}", f"--window-size={self.size[0]},{self.size[1]}", "about:blank"]
        self.proc = subprocess.Popen(
            ["bash", "-c", f'exec "$0" "$@" 3<&{hi_r} 4>&{hi_w} {hi_r}<&- {hi_w}>&-', *args],
            pass_fds=(hi_r, hi_w), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(hi_r)
        os.close(hi_w)
        try:
            target = self.send("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
            self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True},
                                     session=False)["sessionId"]
            self.send("Page.enable")
            self.send("Runtime.enable")
            self.send("Emulation.setDeviceMetricsOverride", {"width": self.size[0], "height": self.size[1],
                                                              "deviceScaleFactor": 1, "mobile": False})
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.send("Browser.close", session=False)
        except (BrowserError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        for fd in (self.cmd_w, self.out_r):
            os.close(fd)
        shutil.rmtree(self.profile, ignore_errors=True)

    def _read(self, deadline: float) -> dict:
        while b"\0" not in self.buf:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise BrowserError(f"no answer from chromium (exit code {self.proc.poll()})")
            chunk = os.read(self.out_r, 1 << 16)
            if not chunk:
                raise BrowserError("chromium closed the pipe")
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def send(self, method: str, params: dict | None = None, session: bool = True) -> dict:
        """One command; events met while waiting for its answer are dropped."""
        self.seq += 1
        msg = {"id": self.seq, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self.cmd_w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self.seq:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def eval(self, expression: str):
        """The value of a JavaScript expression in the page (promises awaited)."""
        res = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                             "awaitPromise": True})
        if "exceptionDetails" in res:
            detail = res["exceptionDetails"]
            raise BrowserError(f"{expression[:80]}: {detail.get('exception', {}).get('description') or detail}")
        return res.get("result", {}).get("value")

    def goto(self, url: str, ready: str = "document.readyState === 'complete'") -> None:
        self.send("Page.navigate", {"url": url})
        self.wait(ready)

    def wait(self, expression: str, timeout: float | None = None):
        """Poll until the expression is truthy; returns its value."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            value = self.eval(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise BrowserError(f"timed out waiting for {expression[:200]}; last value {value!r}")
            time.sleep(0.05)

    def click(self, x: float, y: float) -> None:
        """A left click at viewport coordinates, as a user's mouse makes it."""
        self.send("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x, "y": y})
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left",
                                                   "clickCount": 1})

    def key(self, key: str, code: str | None = None, text: str | None = None) -> None:
        for kind in ("keyDown", "keyUp"):
            params = {"type": kind, "key": key, "code": code or key}
            if text and kind == "keyDown":
                params["text"] = text
            self.send("Input.dispatchKeyEvent", params)

    def type(self, text: str) -> None:
        self.send("Input.insertText", {"text": text})

    def screenshot(self, path: Path) -> None:
        data = self.send("Page.captureScreenshot", {"format": "png"})["data"]
        Path(path).write_bytes(base64.b64decode(data))


def screenshot_file(page: Path, shot: Path, size: str = "1100,1000") -> dict[bytes, int]:
    """A headless Chromium screenshot of a local page (plain --screenshot, no DevTools), for
    people to look at; returns the picture's colour counts and fails on a blank one."""
    from harness import proc
    from tests.capture.pngread import pixels

    chromium = shutil.which("chromium")
    assert chromium, "chromium is installed by scripts/test.sh"
    shot.parent.mkdir(parents=True, exist_ok=True)
    shot.unlink(missing_ok=True)
    proc.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
              "--disable-background-networking", f"--screenshot={shot}", f"--window-size={size}",
              page.as_uri()], timeout=90)
    _w, _h, counts = pixels(shot)
    assert len(counts) > 20, "the screenshot looks blank"
    return counts
