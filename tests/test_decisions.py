"""The decision trace on disk: every line JSON, orders traceable to decisions, rotation bounded."""
from __future__ import annotations

import json

from runtime.service.trace_file import KEEP_ROTATED, JsonlFileSink
from runtime.trace import Trace
from runtime.events import Fill
from runtime.intents import PlaceOrder


def test_orders_and_fills_carry_the_decision_that_caused_them(tmp_path):
    sink = JsonlFileSink(tmp_path / "d.jsonl")
    log = Trace(sink)
    log.decision({"seq": 7, "ts": 1.0, "policy_version": "abc", "active": [], "states": {},
                  "effects": {"size_cap_units": float("inf")}, "errors": {}})
    log.order(PlaceOrder(11, "buy", 184.9, 0.061, "post_only", "quote", decision=7), 1.0)
    log.fill(Fill(2.0, 11, "buy", 184.9, 0.061, "maker"), "quote")
    sink.close()
    lines = [json.loads(line) for line in (tmp_path / "d.jsonl").read_text().splitlines()]
    assert [r["type"] for r in lines] == ["decision", "order", "fill"]
    assert lines[1]["decision"] == lines[0]["seq"] == 7
    assert lines[0]["effects"]["size_cap_units"] == "inf"     # JSON has no inf; still one valid line


def test_rotation_keeps_the_newest_lines_and_a_bounded_number_of_files(tmp_path):
    path = tmp_path / "d.jsonl"
    sink = JsonlFileSink(path, max_bytes=2000)
    log = Trace(sink)
    for i in range(1000):
        log.event("tick", n=i)
    sink.close()
    rotated = sorted(p.name for p in tmp_path.iterdir() if p.name != "d.jsonl")
    assert rotated == [f"d.jsonl.{i}" for i in range(1, KEEP_ROTATED + 1)]
    assert all(p.stat().st_size <= 2000 for p in tmp_path.iterdir())
    last = [json.loads(line)["n"] for line in path.read_text().splitlines()]
    assert last[-1] == 999
    previous = [json.loads(line)["n"] for line in (tmp_path / "d.jsonl.1").read_text().splitlines()]
    assert previous[-1] + 1 == last[0]   # nothing lost between files
