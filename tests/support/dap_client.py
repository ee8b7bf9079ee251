"""Drive a DAP adapter through VS Code's own client (tests/dap/client/bridge.js), from pytest.

The DAP wire work (framing, sequence numbers, matching responses) is done by DebugClient of
@vscode/debugadapter-testsupport under node, so the adapter is tested against the client VS Code
adapters are tested with, not against a codec written alongside it.

Without node or the npm packages the tests skip locally, but fail when TTD_REQUIRE_NODE=1 (CI).
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Sequence

import pytest

CLIENT_DIR = Path(__file__).resolve().parent.parent / "dap" / "client"
BRIDGE = CLIENT_DIR / "bridge.js"
REQUIRE_ENV = "TTD_REQUIRE_NODE"
TTD_DAP = [sys.executable, "-m", "ttd.cli.main", "dap"]
THREAD = 1  # the one thread a Wasm program has


def node_missing() -> str | None:
    """Why the bridge cannot run here, or None."""
    if shutil.which("node") is None:
        return "node is not installed"
    if not (CLIENT_DIR / "node_modules" / "@vscode" / "debugadapter-testsupport").is_dir():
        return f"npm packages missing: run `npm ci` in {CLIENT_DIR}"
    return None


def require_node() -> None:
    """Skip the calling test without node, or fail under TTD_REQUIRE_NODE=1."""
    why = node_missing()
    if why is None:
        return
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{why} ({REQUIRE_ENV}=1)")
    pytest.skip(why)


class DAPError(Exception):
    """A DAP error response; str() is the adapter's message."""

    def __init__(self, command: str, response: dict):
        self.command = command
        self.response = response
        err = (response.get("body") or {}).get("error") or {}
        self.message = err.get("format") or response.get("message") or "(no message)"
        super().__init__(f"{command}: {self.message}")


class BridgeError(Exception):
    """The bridge itself failed: a timeout, no adapter, a bad op."""


class DAPClient:
    """One DebugClient, talking to an adapter it spawns (`adapter`) or to a port (`port`)."""

    def __init__(self, adapter: Sequence[str] | None = None, *, port: int | None = None,
                 cwd: Path | None = None, env: dict | None = None, timeout: float = 60.0):
        require_node()
        self.timeout = timeout
        args = ["node", str(BRIDGE)]
        if port is not None:
            args += ["--port", str(port)]
        else:
            args += ["--adapter", json.dumps(list(adapter or TTD_DAP))]
            if cwd is not None:
                args += ["--cwd", str(cwd)]
        self._proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True, env=env, bufsize=1)
        self._next = 1
        self._lock = threading.Lock()
        self._pending: dict[int, queue.Queue] = {0: queue.Queue()}
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        ready = self._result(0, self.timeout)
        if not ready.get("ok"):
            self.close()
            raise BridgeError(ready.get("error", "bridge did not start"))

    # -- plumbing ---------------------------------------------------------------------------

    def _read(self) -> None:
        for line in self._proc.stdout:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            with self._lock:
                q = self._pending.get(msg.get("id"))
            if q is not None:
                q.put(msg)
        with self._lock:  # the bridge is gone: wake every waiter
            for q in self._pending.values():
                q.put({"ok": False, "error": "the bridge exited"})

    def _result(self, ident: int, timeout: float) -> dict:
        try:
            msg = self._pending[ident].get(timeout=timeout + 5)
        except queue.Empty:
            raise BridgeError(f"the bridge did not answer within {timeout + 5:.0f} s") from None
        with self._lock:
            self._pending.pop(ident, None)
        return msg

    def send(self, op: str, **fields: Any) -> int:
        """Start an op without waiting; `result(id)` collects it."""
        with self._lock:
            ident = self._next
            self._next += 1
            self._pending[ident] = queue.Queue()
        fields.setdefault("timeout", int(self.timeout * 1000))
        self._proc.stdin.write(json.dumps({"id": ident, "op": op, **fields}) + "\n")
        self._proc.stdin.flush()
        return ident

    def result(self, ident: int, timeout: float | None = None) -> dict:
        msg = self._result(ident, self.timeout if timeout is None else timeout)
        if not msg.get("ok"):
            raise BridgeError(msg.get("error", "bridge error"))
        return msg

    # -- DAP --------------------------------------------------------------------------------

    def request_async(self, command: str, arguments: dict | None = None,
                      timeout: float | None = None) -> int:
        fields: dict[str, Any] = {"command": command}
        if arguments is not None:
            fields["arguments"] = arguments
        if timeout is not None:
            fields["timeout"] = int(timeout * 1000)
        return self.send("request", **fields)

    def response(self, ident: int, command: str = "request") -> Any:
        """The body of a started request, or DAPError with the adapter's message."""
        resp = self.result(ident)["response"]
        if not resp.get("success"):
            raise DAPError(resp.get("command", command), resp)
        return resp.get("body")

    def raw(self, command: str, arguments: dict | None = None,
            timeout: float | None = None) -> dict:
        """The whole response, success or not."""
        return self.result(self.request_async(command, arguments, timeout))["response"]

    def request(self, command: str, arguments: dict | None = None,
                timeout: float | None = None) -> Any:
        """The response body; DAPError with the adapter's message on an error response."""
        return self.response(self.request_async(command, arguments, timeout), command)

    def wait_event(self, name: str | Sequence[str], timeout: float | None = None) -> dict:
        """The oldest `name` event (or of any name of a list) not yet taken, waiting up to
        `timeout` s for one."""
        if not isinstance(name, str):
            name = list(name)
        t = self.timeout if timeout is None else timeout
        return self.result(self.send("wait_event", event=name, timeout=int(t * 1000)),
                           timeout=t)["event"]

    def events(self) -> list[dict]:
        """Every event received so far."""
        return self.result(self.send("events"))["events"]

    def outputs(self, category: str | None = None) -> list[str]:
        """The `output` of every output event so far (of one category if given)."""
        return [e["body"]["output"] for e in self.events()
                if e["event"] == "output"
                and (category is None or e["body"].get("category") == category)]

    def stderr(self) -> str:
        return self.result(self.send("stderr"))["stderr"]

    # -- helpers ----------------------------------------------------------------------------

    def initialize(self, **extra: Any) -> dict:
        args = {"clientID": "ttd-tests", "adapterID": "ttd", "linesStartAt1": True,
                "columnsStartAt1": True, "pathFormat": "path",
                "supportsVariableType": True, "supportsMemoryReferences": True, **extra}
        self.capabilities = self.request("initialize", args) or {}
        return self.capabilities

    def launch(self, breakpoints: dict[str, Sequence[int | dict]] | None = None,
               function_breakpoints: Sequence[str | dict] = (), stop_reason: str | None = None,
               **launch_args: Any) -> dict | None:
        """initialize, launch, breakpoints, configurationDone as VS Code does; return the first
        stopped event (None if stop_reason is None and the adapter did not stop)."""
        self.initialize()
        launch_args.setdefault("type", "ttd")
        launch_args.setdefault("request", "launch")
        ident = self.request_async("launch", launch_args)
        self._initialized_or_failed_launch(ident)
        for path, lines in (breakpoints or {}).items():
            self.set_breakpoints(path, lines)
        if function_breakpoints:
            self.request("setFunctionBreakpoints", {"breakpoints": [
                b if isinstance(b, dict) else {"name": b} for b in function_breakpoints]})
        self.request("configurationDone")
        self.response(ident, "launch")
        if stop_reason is None:
            return None
        ev = self.wait_event("stopped")
        assert ev["body"]["reason"] == stop_reason, ev
        return ev

    def _initialized_or_failed_launch(self, launch: int) -> None:
        """Wait for `initialized`; a launch that fails instead raises its DAPError at once."""
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                self.wait_event("initialized", timeout=0.25)
                return
            except BridgeError:
                if time.monotonic() > deadline:
                    raise
            q = self._pending[launch]
            if not q.empty():
                msg = q.get()
                q.put(msg)  # response() collects it again
                if not (msg.get("ok") and msg["response"].get("success")):
                    self.response(launch, "launch")

    def set_breakpoints(self, path: str, lines: Sequence[int | dict]) -> list[dict]:
        bps = [b if isinstance(b, dict) else {"line": b} for b in lines]
        body = self.request("setBreakpoints", {"source": {"path": str(path)},
                                               "breakpoints": bps})
        return body["breakpoints"]

    def stopped_after(self, command: str, arguments: dict | None = None) -> dict:
        """Send a request that moves in time and return the stopped event that follows it."""
        args = {"threadId": THREAD, **(arguments or {})}
        self.request(command, args)
        return self.wait_event("stopped")

    def stack(self, levels: int = 0) -> list[dict]:
        args = {"threadId": THREAD, "startFrame": 0}
        if levels:
            args["levels"] = levels
        return self.request("stackTrace", args)["stackFrames"]

    def scopes(self, frame_id: int) -> list[dict]:
        return self.request("scopes", {"frameId": frame_id})["scopes"]

    def variables(self, frame_id: int | None = None, scope: str = "Locals") -> dict[str, str]:
        """name -> value of one scope of a frame (the top frame by default)."""
        if frame_id is None:
            frame_id = self.stack(1)[0]["id"]
        for s in self.scopes(frame_id):
            if s["name"].lower().startswith(scope.lower()):
                ref = s["variablesReference"]
                break
        else:
            raise AssertionError(f"no {scope!r} scope in frame {frame_id}")
        return {v["name"]: v["value"] for v in self.children(ref)}

    def all_variables(self, frame_id: int) -> dict[str, str]:
        """name -> value over every non-expensive scope of a frame (arguments, locals, ...),
        as LLDB's `frame variable` lists them; registers and globals scopes are left out."""
        out: dict[str, str] = {}
        for s in self.scopes(frame_id):
            if s.get("expensive") or s.get("presentationHint") == "registers" \
                    or s["name"].lower().startswith(("register", "global", "static")):
                continue
            for v in self.children(s["variablesReference"]):
                out[v["name"]] = v["value"]
        return out

    def children(self, ref: int) -> list[dict]:
        return self.request("variables", {"variablesReference": ref})["variables"]

    def where(self) -> tuple[str, int]:
        """(source file name, line) of the top frame."""
        f = self.stack(1)[0]
        return (Path((f.get("source") or {}).get("path") or "?").name, f.get("line", 0))

    # -- life cycle -------------------------------------------------------------------------

    def kill(self) -> None:
        """The client dies without a word (an editor killed mid-session): SIGKILL the bridge."""
        self._proc.kill()
        self._proc.wait()

    def close(self) -> str:
        """Disconnect, stop the adapter and the bridge; return the adapter's stderr."""
        err = ""
        if self._proc.poll() is None:
            try:
                err = self.result(self.send("stop", timeout=10000), timeout=10).get("stderr", "")
            except (BridgeError, OSError, ValueError):
                pass
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        for f in (self._proc.stdin, self._proc.stdout, self._proc.stderr):
            try:
                f.close()
            except OSError:
                pass
        return err

    def __enter__(self) -> "DAPClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
