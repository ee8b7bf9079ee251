"""Data breakpoints through `ttd dap`, in both directions, and `ttdLastWrite`: on wild.wasm,
scale() writes one element past `stats.samples` and clobbers `stats.total` (wild.c:28)."""

from __future__ import annotations

from tests.dap.conftest import src
from tests.support.dap_client import DAPClient

THREAD = 1


def _stop_in_main_after_scale(c: DAPClient, trace) -> None:
    c.launch(trace=str(trace), breakpoints={src("wild.c"): [39]}, stop_reason="entry")
    assert c.stopped_after("continue")["body"]["reason"] == "breakpoint"
    assert c.where() == ("wild.c", 39)


def _total_data_id(c: DAPClient, access: str) -> str:
    """dataBreakpointInfo on `stats.total` as VS Code's variables view asks it."""
    frame = c.stack(1)[0]["id"]
    (stats,) = [v for s in c.scopes(frame) for v in c.children(s["variablesReference"])
                if v["name"] == "stats"]
    assert stats["variablesReference"] > 0
    assert {v["name"] for v in c.children(stats["variablesReference"])} >= {"total", "count"}
    info = c.request("dataBreakpointInfo", {"variablesReference": stats["variablesReference"],
                                            "name": "total", "frameId": frame})
    assert info["dataId"], info
    assert access in info.get("accessTypes", [access]), info
    return info["dataId"]


def test_data_breakpoint_backwards_lands_on_the_wild_write(dap_traces):
    with DAPClient() as c:
        _stop_in_main_after_scale(c, dap_traces["wild"])
        data_id = _total_data_id(c, "write")
        got = c.request("setDataBreakpoints", {"breakpoints": [
            {"dataId": data_id, "accessType": "write"}]})
        assert got["breakpoints"][0]["verified"] is True
        ev = c.stopped_after("reverseContinue")
        assert ev["body"]["reason"] == "data breakpoint", ev
        assert c.where() == ("wild.c", 28)
        frames = c.stack()
        assert [f["name"] for f in frames[:2]] == ["scale", "main"]
        assert c.variables()["i"] == "8" and c.variables()["n"] == "8"
        # once more backwards: the last legitimate write, in accumulate(&stats, 80)
        ev = c.stopped_after("reverseContinue")
        assert ev["body"]["reason"] == "data breakpoint", ev
        assert c.where() == ("wild.c", 21)
        assert c.stack(1)[0]["name"] == "accumulate"
        assert c.variables()["value"] == "80"
        # forwards again: first that same write (stopping right after it), then the wild one
        ev = c.stopped_after("continue")
        assert ev["body"]["reason"] == "data breakpoint", ev
        assert c.stack(1)[0]["name"] == "accumulate" and c.variables()["value"] == "80"
        ev = c.stopped_after("continue")
        assert ev["body"]["reason"] == "data breakpoint", ev
        # right after the store: still line 28, or already the loop's i++ on line 27
        assert c.stack(1)[0]["name"] == "scale" and c.where() in (("wild.c", 27), ("wild.c", 28))
        assert c.variables()["i"] == "8"


def test_read_data_breakpoint_forwards(dap_traces):
    with DAPClient() as c:
        c.launch(trace=str(dap_traces["wild_reads"]), breakpoints={src("wild.c"): [36]},
                 stop_reason="entry")
        c.stopped_after("continue")
        data_id = _total_data_id(c, "read")
        c.request("setDataBreakpoints", {"breakpoints": [
            {"dataId": data_id, "accessType": "read"}]})
        ev = c.stopped_after("continue")
        assert ev["body"]["reason"] == "data breakpoint", ev
        # the printf on line 36 reads stats.total as its argument
        assert c.where() == ("wild.c", 36) and c.stack(1)[0]["name"] == "main"


def test_last_write(dap_traces):
    with DAPClient() as c:
        _stop_in_main_after_scale(c, dap_traces["wild"])
        frame = c.stack(1)[0]["id"]
        c.request("ttdLastWrite", {"expression": "stats.total", "frameId": frame})
        c.wait_event("stopped")
        assert c.where() == ("wild.c", 28)
        assert c.stack(1)[0]["name"] == "scale" and c.variables()["i"] == "8"
