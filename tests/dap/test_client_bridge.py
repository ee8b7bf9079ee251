"""The DAP test client (VS Code's DebugClient behind tests/dap/client/bridge.js) against a
fake adapter, so the client is known to work before it is pointed at `ttd dap`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.dap_client import DAPClient, DAPError, BridgeError

FAKE = [sys.executable, str(Path(__file__).with_name("fake_adapter.py"))]


def test_launch_breakpoints_steps_and_variables():
    with DAPClient(FAKE, timeout=20) as c:
        ev = c.launch(breakpoints={"/fake/prog.c": [4, 20]}, stop_reason="entry", lines=8)
        assert ev["body"]["threadId"] == 1
        assert c.capabilities["supportsStepBack"] is True
        assert c.where() == ("prog.c", 1)
        assert c.stopped_after("continue")["body"]["reason"] == "breakpoint"
        assert c.where() == ("prog.c", 4)
        assert c.variables() == {"x": "4"}
        for want in (5, 6):
            assert c.stopped_after("next")["body"]["reason"] == "step"
            assert c.variables()["x"] == str(want)
        c.stopped_after("stepBack")
        assert c.where() == ("prog.c", 5)


def test_breakpoint_verification_is_the_adapters_answer():
    with DAPClient(FAKE, timeout=20) as c:
        c.launch(stop_reason="entry", lines=8)
        bps = c.set_breakpoints("/fake/prog.c", [3, 9])
        assert [b["verified"] for b in bps] == [True, False]


def test_error_response_carries_the_adapters_message_and_the_session_goes_on():
    with DAPClient(FAKE, timeout=20) as c:
        c.launch(stop_reason="entry")
        with pytest.raises(DAPError, match="unknown request 'bogus'"):
            c.request("bogus", {"a": 1})
        raw = c.raw("bogus")
        assert raw["success"] is False
        assert c.where() == ("prog.c", 1)


def test_a_failed_launch_is_a_dap_error():
    with DAPClient(FAKE, timeout=20) as c:
        with pytest.raises(DAPError, match="lines must be an integer"):
            c.launch(lines="many")


def test_output_events_are_collected_and_terminated_is_seen():
    with DAPClient(FAKE, timeout=20) as c:
        c.launch(breakpoints={"/fake/prog.c": [{"line": 2, "logMessage": "x={x}"},
                                               {"line": 5, "logMessage": "x={x}"}]},
                 stop_reason="entry", lines=6)
        c.request("continue", {"threadId": 1})
        c.wait_event("terminated")
        assert c.outputs("console") == ["x=2\n", "x=5\n"]


def test_waiting_for_an_event_that_never_comes_times_out():
    with DAPClient(FAKE, timeout=20) as c:
        c.launch(stop_reason="entry")
        with pytest.raises(BridgeError, match="no event 'exited'"):
            c.wait_event("exited", timeout=0.5)
        # events are not lost when they came before anybody waited
        c.request("next", {"threadId": 1})
        c.request("next", {"threadId": 1})
        assert [c.wait_event("stopped")["body"]["reason"] for _ in range(2)] == ["step", "step"]
        c.request("continue", {"threadId": 1})
        assert c.wait_event(["exited", "terminated"])["event"] == "terminated"


def test_port_mode():
    proc = subprocess.Popen([*FAKE, "--port", "0"], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        port = int(line.rsplit(":", 1)[1])
        with DAPClient(port=port, timeout=20) as c:
            c.launch(stop_reason="entry", lines=3)
            c.stopped_after("next")
            assert c.variables() == {"x": "2"}
        assert proc.wait(timeout=10) == 0  # the client's disconnect ended the session
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
