from __future__ import annotations

import io
import json

from shared.logs import bind, log, trace_field


def test_a_log_line_is_one_json_object_cloud_logging_reads() -> None:
    out = io.StringIO()
    with bind(
        function="on_pto_logged", event_id="e1", **trace_field("105445aa7843bc8bf206b12000100000/1;o=1")
    ):
        log("ERROR", "event rejected", stream=out, reason="unknown person")
    [line] = out.getvalue().splitlines()
    entry = json.loads(line)
    assert entry["severity"] == "ERROR" and entry["message"] == "event rejected"
    assert entry["function"] == "on_pto_logged" and entry["event_id"] == "e1"
    assert entry["logging.googleapis.com/trace"].endswith("/traces/105445aa7843bc8bf206b12000100000")


def test_a_w3c_traceparent_gives_its_trace_id() -> None:
    field = trace_field("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    assert field["logging.googleapis.com/trace"].endswith("/traces/4bf92f3577b34da6a3ce929d0e0e4736")


def test_bound_fields_end_with_their_block() -> None:
    out = io.StringIO()
    with bind(event_id="inside"):
        pass
    entry = log("INFO", "after", stream=out)
    assert "event_id" not in entry


def test_no_value_in_a_line_is_longer_than_200_characters_and_a_cut_one_says_so() -> None:
    out = io.StringIO()
    huge = "9" * 160_000
    with bind(event_id="e" * 500):
        log("ERROR", f"rejected: timestamp {huge}", stream=out, reason=huge, notes=[huge, "short"])
    [line] = out.getvalue().splitlines()
    assert len(line) < 2_000
    entry = json.loads(line)
    assert entry["reason"] == "9" * 200 + "… (160000 chars)"
    assert entry["notes"] == ["9" * 200 + "… (160000 chars)", "short"]
    assert entry["message"].startswith("rejected: timestamp 999")
    assert entry["message"].endswith("(160020 chars)")
    assert entry["event_id"] == "e" * 200 + "… (500 chars)"
