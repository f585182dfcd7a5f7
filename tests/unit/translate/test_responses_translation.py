"""Anthropic history -> /responses input items: the order the model wrote things in survives."""

from __future__ import annotations

from support.builders import messages_request

from gateway.translate import responses as rs


def test_text_after_a_call_stays_after_it():
    request = messages_request(
        model="gpt-5.4",
        messages=[
            {"role": "user", "content": "look it up"},
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Let me check. "},
                    {"type": "text", "text": "One moment."},
                    {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"q": "x"}},
                    {"type": "text", "text": "Asked."},
                ],
            },
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "42"}]},
        ],
    )
    items = rs.to_request(request, "sfdc_ai__DefaultGPT54")["input"]
    shapes = [(i["type"], i.get("role")) for i in items]
    assert shapes == [
        ("message", "user"),
        ("message", "assistant"),
        ("function_call", None),
        ("message", "assistant"),
        ("function_call_output", None),
    ]
    assert items[1]["content"] == [{"type": "output_text", "text": "Let me check. One moment."}]
    assert items[3]["content"] == [{"type": "output_text", "text": "Asked."}]
    assert items[2]["call_id"] == items[4]["call_id"]
