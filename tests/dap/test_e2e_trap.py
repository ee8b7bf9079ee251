"""Post-mortem: `stopAt: "end"` on trap.wasm stops at the out-of-bounds load (trap.c:34) as an
exception, and stepping back from it reaches the call in main (trap.c:48)."""

from __future__ import annotations

from tests.support.dap_client import DAPClient

THREAD = 1


def test_stop_at_end_shows_the_trap_and_steps_back(dap_traces):
    with DAPClient() as c:
        ev = c.launch(trace=str(dap_traces["trap"]), stopAt="end", stop_reason="exception")
        assert c.capabilities.get("supportsExceptionInfoRequest")
        assert c.where() == ("trap.c", 34)
        assert [f["name"] for f in c.stack()[:2]] == ["read_balance", "main"]
        info = c.request("exceptionInfo", {"threadId": THREAD})
        text = f"{info.get('exceptionId')} {info.get('description')}".lower()
        assert "out of bounds" in text or "out-of-bounds" in text, info
        assert ev["body"].get("description") or ev["body"].get("text") or info["description"]
        when = c.request("ttdWhen", {})
        # stepping back leaves read_balance for the call site in main
        seen = []
        for _ in range(4):
            c.stopped_after("stepBack")
            seen.append((c.where(), c.stack(1)[0]["name"]))
            if seen[-1] == (("trap.c", 48), "main"):
                break
        assert seen[-1] == (("trap.c", 48), "main"), seen
        assert c.request("ttdWhen", {})["step"] < when["step"]
        # bad is the pointer lookup() computed, far beyond memory
        bad = c.variables()["bad"]
        assert int(bad.split()[-1], 16) > 0x7F000000, bad
        # and forwards again to the trap
        ev = c.stopped_after("continue")
        assert ev["body"]["reason"] == "exception" and c.where() == ("trap.c", 34)
