"""A headless Chromium driven through the DevTools protocol over a pipe, with the standard
library alone (no selenium, no driver binary, no websocket package).

Chromium started with --remote-debugging-pipe reads protocol messages (JSON, each ended
by a NUL byte) from its file descriptor 3 and writes its answers and events to fd 4. The
browser test of `p2p serve` draws on the page through it, and docs/serve_screenshot.py
takes the README's picture.
"""
from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time

from p2p_cupy.errors import P2PError

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_browser():
    """The path of a Chromium-family browser on PATH, or None."""
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


class Browser:
    """One headless browser with one page; `with Browser() as b: b.open(url)`."""

    def __init__(self, width: int = 1280, height: int = 900, timeout: float = 30.0):
        path = find_browser()
        if path is None:
            raise P2PError(f"no Chromium found on PATH (looked for {', '.join(BROWSERS)})")
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="p2p-chromium-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # The child sees our pipe ends as its fds 3 (commands in) and 4 (answers out): bash
        # moves them there (dash cannot name fds above 9), then becomes the browser.
        argv = [path, "--headless=new", "--remote-debugging-pipe", "--no-sandbox",
                "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--hide-scrollbars", f"--user-data-dir={self.profile}",
                f"--window-size={width},{height}", "about:blank"]
        self.log = open(os.path.join(self.profile, "browser.log"), "w+b")
        self.process = subprocess.Popen(
            ["bash", "-c", f'exec "$0" "$@" 3<&{to_browser_r} 4>&{from_browser_w}', *argv],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
            pass_fds=(to_browser_r, from_browser_w))
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer, self._next_id, self.session = b"", 0, None

    # --- protocol ------------------------------------------------------------------------
    def send(self, method: str, params: dict = None, session: bool = True) -> dict:
        """Call a protocol method and return its result (events met on the way dropped)."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        try:
            os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        except BrokenPipeError:
            raise P2PError(f"the browser has exited: {self._log_tail()}") from None
        deadline = time.monotonic() + self.timeout
        while True:
            answer = self._read_message(deadline)
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise P2PError(f"DevTools {method}: {answer['error'].get('message')}")
                return answer.get("result", {})

    def _read_message(self, deadline) -> dict:
        while b"\0" not in self._buffer:
            if time.monotonic() > deadline:
                raise P2PError("the browser did not answer in time")
            chunk = os.read(self._from_browser, 1 << 16)
            if not chunk:
                raise P2PError(f"the browser closed its DevTools pipe: {self._log_tail()}")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def _log_tail(self) -> str:
        self.log.seek(0)
        lines = self.log.read().decode(errors="replace").strip().splitlines()
        return " | ".join(lines[-3:]) or "(it printed nothing)"

    # --- page ----------------------------------------------------------------------------
    def open(self, url: str):
        target = self.send("Target.createTarget", {"url": "about:blank"}, session=False)
        attached = self.send("Target.attachToTarget",
                             {"targetId": target["targetId"], "flatten": True}, session=False)
        self.session = attached["sessionId"]
        self.send("Page.enable")
        self.send("Page.navigate", {"url": url})

    def evaluate(self, expression: str):
        """The value of a JavaScript expression in the page (promises awaited)."""
        result = self.send("Runtime.evaluate", {"expression": expression,
                                                "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in result:
            raise P2PError(f"JavaScript error: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = None):
        """Poll a JavaScript expression until it is truthy; its value."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while time.monotonic() < deadline:
            try:
                value = self.evaluate(expression)
            except P2PError:
                value = None             # the page is still loading
            if value:
                return value
            time.sleep(0.05)
        raise P2PError(f"timed out waiting for {expression}")

    def drag(self, points):
        """A real mouse stroke through page coordinates [(x, y), ...]: press, moves, release."""
        (x, y), rest = points[0], points[1:]
        self.send("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x, "y": y})
        self.send("Input.dispatchMouseEvent", {"type": "mousePressed", "x": x, "y": y,
                                               "button": "left", "buttons": 1, "clickCount": 1})
        for x, y in rest:
            self.send("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x, "y": y,
                                                   "button": "left", "buttons": 1})
        self.send("Input.dispatchMouseEvent", {"type": "mouseReleased", "x": x, "y": y,
                                               "button": "left", "buttons": 0, "clickCount": 1})

    def screenshot(self) -> bytes:
        return base64.b64decode(self.send("Page.captureScreenshot", {"format": "png"})["data"])

    # --- lifetime ------------------------------------------------------------------------
    def close(self):
        try:
            self.process.terminate()
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for fd in (self._to_browser, self._from_browser):
            try:
                os.close(fd)
            except OSError:
                pass
        self.log.close()
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
