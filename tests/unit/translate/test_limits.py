"""apply_limits: where an answer is cut, by stop sequence or by the max_tokens budget."""

from __future__ import annotations

from gateway.token_estimate import text_tokens
from gateway.translate.limits import apply_limits


def test_limits_stop_sequence_before_budget():
    text, reason, seq = apply_limits("Hello world STOP and then more words", 1000, ["STOP"])
    assert (text, reason, seq) == ("Hello world ", "stop_sequence", "STOP")


def test_limits_earliest_stop_sequence_wins():
    text, reason, seq = apply_limits("one two three four", 1000, ["four", "two"])
    assert (text, reason, seq) == ("one ", "stop_sequence", "two")


def test_limits_budget_before_stop_sequence():
    source = "word " * 500 + "STOP tail"
    text, reason, seq = apply_limits(source, 10, ["STOP"])
    assert reason == "max_tokens"
    assert seq is None
    assert source.startswith(text)
    assert "STOP" not in text
    assert 0 < text_tokens(text) <= 10


def test_limits_neither():
    assert apply_limits("short answer", 1000, ["ZZZ"]) == ("short answer", "end_turn", None)
    assert apply_limits("short answer", 1000, []) == ("short answer", "end_turn", None)


def test_limits_budget_cut_is_the_longest_prefix_within_budget():
    """A model stopped at max_tokens has used its budget: no longer word-boundary prefix fits it."""
    source = "word " * 2000
    for budget in (10, 100, 1000):
        text, reason, _ = apply_limits(source, budget, [])
        assert reason == "max_tokens"
        longer = source[: len(text) + len("word ")]
        assert text_tokens(text) <= budget
        assert text_tokens(longer) > budget, (
            f"max_tokens={budget}: cut after {text_tokens(text)} tokens, but {text_tokens(longer)} would fit"
        )
