"""Headless Chromium over the DevTools protocol on a pipe (--remote-debugging-pipe), standard
library only: open a page, collect console errors / exceptions / network requests, evaluate
JavaScript, take a screenshot. Used by the HTML report's tests and scripts/screenshot_report.py.

Chromium comes from Debian (`chromium`); it is started with the flags that keep it off the network
and a fresh, temporary profile."""
from __future__ import annotations

import base64
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio", "--no-default-browser-check"]


def find_chromium() -> str | None:
    for name in (os.environ.get("TINY_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


class BrowserError(RuntimeError):
    pass


class Chromium:
    """One headless Chromium with one page.

        with Chromium() as b:
            b.open(Path("report.html"))
            b.evaluate("document.title"); b.errors; b.requests; b.screenshot(Path("x.png"))
    """

    def __init__(self, exe: str | None = None, width: int = 1280, height: int = 900, timeout: float = 60.0):
        exe = exe or find_chromium()
        if not exe:
            raise BrowserError("chromium not found (Debian: apt-get install chromium)")
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="tiny-chromium-")
        to_r, to_w = os.pipe()        # we write commands -> chromium reads fd 3
        from_r, from_w = os.pipe()    # chromium writes fd 4 -> we read
        # The child gets its ends as fds 3 and 4 (the protocol's fixed numbers): they are moved
        # above 100 (close-on-exec) so that dup2 onto 3/4 in the child cannot clobber one with the
        # other; close_fds=False because fds 3/4 must survive and everything else Python opens
        # is close-on-exec anyway (PEP 446).
        import fcntl
        hi_r = fcntl.fcntl(to_r, fcntl.F_DUPFD_CLOEXEC, 100)
        hi_w = fcntl.fcntl(from_w, fcntl.F_DUPFD_CLOEXEC, 100)
        os.close(to_r)
        os.close(from_w)
        to_r, from_w = hi_r, hi_w
        cmd = [exe, *FLAGS, f"--user-data-dir={self.profile}", "--remote-debugging-pipe",
               f"--window-size={width},{height}", "about:blank"]

        def child_fds() -> None:
            os.dup2(hi_r, 3)
            os.dup2(hi_w, 4)
        self.proc = subprocess.Popen(cmd, close_fds=False, preexec_fn=child_fds, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        os.close(to_r)
        os.close(from_w)
        self._w = os.fdopen(to_w, "wb", buffering=0)
        self._r = os.fdopen(from_r, "rb", buffering=0)
        self._id = 0
        self._replies: dict[int, queue.Queue] = {}
        self._lock = threading.Lock()
        self.events: list[dict[str, Any]] = []
        self._event_cv = threading.Condition()
        self._stderr: list[bytes] = []
        threading.Thread(target=self._read_loop, daemon=True).start()
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        self.session: str | None = None
        self.width, self.height = width, height
        self._attach()

    # ------------------------------------------------------------ protocol plumbing
    def _drain_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._stderr.append(line)

    def _read_loop(self) -> None:
        buf = b""
        while True:
            try:
                chunk = self._r.read(65536)
            except OSError:
                chunk = b""
            if not chunk:
                break
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                msg = json.loads(raw)
                if "id" in msg:
                    q = self._replies.get(msg["id"])
                    if q is not None:
                        q.put(msg)
                else:
                    with self._event_cv:
                        self.events.append(msg)
                        self._event_cv.notify_all()
        with self._event_cv:
            self._event_cv.notify_all()
        for q in list(self._replies.values()):
            q.put({"error": {"message": "chromium closed the pipe"}})

    def send(self, method: str, params: dict[str, Any] | None = None, session: bool = True) -> dict[str, Any]:
        with self._lock:
            self._id += 1
            mid = self._id
            q: queue.Queue = queue.Queue()
            self._replies[mid] = q
        msg: dict[str, Any] = {"id": mid, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        try:
            self._w.write(json.dumps(msg).encode() + b"\0")
        except (BrokenPipeError, OSError) as e:
            raise BrowserError(f"chromium is gone: {e}; stderr: {self.stderr()[-2000:]}") from None
        try:
            reply = q.get(timeout=self.timeout)
        except queue.Empty:
            raise BrowserError(f"no reply to {method} within {self.timeout}s") from None
        finally:
            self._replies.pop(mid, None)
        if "error" in reply:
            raise BrowserError(f"{method}: {reply['error'].get('message')}; stderr: {self.stderr()[-1000:]}")
        return reply.get("result", {})

    def wait_event(self, method: str, since: int = 0, timeout: float | None = None) -> dict[str, Any]:
        deadline = time.monotonic() + (timeout or self.timeout)
        with self._event_cv:
            while True:
                for ev in self.events[since:]:
                    if ev.get("method") == method:
                        return ev
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise BrowserError(f"no {method} event within the timeout")
                self._event_cv.wait(left)

    def _attach(self) -> None:
        target = self.send("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True},
                                 session=False)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable")
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": self.width, "height": self.height, "deviceScaleFactor": 1, "mobile": False})

    def stderr(self) -> str:
        return b"".join(self._stderr).decode(errors="replace")

    # ------------------------------------------------------------ what callers use
    def open(self, target: str | Path) -> None:
        """Navigate and wait for the load event (images decoded and laid out)."""
        url = target if isinstance(target, str) and "://" in target else Path(target).resolve().as_uri()
        mark = len(self.events)
        r = self.send("Page.navigate", {"url": url})
        if r.get("errorText"):
            raise BrowserError(f"navigate {url}: {r['errorText']}")
        self.wait_event("Page.loadEventFired", since=mark)

    def evaluate(self, expression: str) -> Any:
        r = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in r:
            raise BrowserError(f"evaluate: {r['exceptionDetails'].get('text')} "
                               f"{r['exceptionDetails'].get('exception', {}).get('description', '')}")
        return r["result"].get("value")

    @property
    def errors(self) -> list[str]:
        """Console errors/warnings, uncaught exceptions and error log entries seen so far."""
        out = []
        for ev in self.events:
            m, p = ev.get("method"), ev.get("params", {})
            if m == "Runtime.exceptionThrown":
                d = p.get("exceptionDetails", {})
                out.append(f"exception: {d.get('text')} {d.get('exception', {}).get('description', '')}")
            elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert", "warning"):
                out.append(f"console.{p['type']}: " + " ".join(str(a.get("value", a.get("description")))
                                                              for a in p.get("args", [])))
            elif m == "Log.entryAdded" and p.get("entry", {}).get("level") in ("error", "warning"):
                e = p["entry"]
                out.append(f"log {e.get('level')} ({e.get('source')}): {e.get('text')} {e.get('url', '')}")
            elif m == "Network.loadingFailed":
                out.append(f"network: {p.get('errorText')} ({p.get('requestId')})")
        return out

    @property
    def requests(self) -> list[str]:
        """URLs the page asked for (data: URLs are not network requests and are left out)."""
        return [ev["params"]["request"]["url"] for ev in self.events
                if ev.get("method") == "Network.requestWillBeSent"
                and not ev["params"]["request"]["url"].startswith("data:")]

    def screenshot(self, out: Path, full_page: bool = False, max_height: int | None = None) -> Path:
        params: dict[str, Any] = {"format": "png"}
        if full_page or max_height:
            m = self.send("Page.getLayoutMetrics")
            size = m.get("cssContentSize") or m["contentSize"]
            h = int(size["height"]) if full_page else self.height
            if max_height:
                h = min(h, max_height) if full_page else max_height
            params.update(clip={"x": 0, "y": 0, "width": self.width, "height": h, "scale": 1},
                          captureBeyondViewport=True)
        data = self.send("Page.captureScreenshot", params)["data"]
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(base64.b64decode(data))
        return out

    def close(self) -> None:
        try:
            if self.proc.poll() is None:
                try:
                    self.send("Browser.close", session=False)
                except BrowserError:
                    pass
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=10)
        finally:
            for f in (self._w, self._r):
                try:
                    f.close()
                except OSError:
                    pass
            shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> "Chromium":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
