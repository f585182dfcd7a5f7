"""Token estimates: text by length and script, image sizes read from headers, whole requests."""

from __future__ import annotations

import itertools
import struct

import pytest
from support.builders import WEATHER_TOOL, b64, gif, jpeg, png

from gateway.anthropic.validation import validate_count_tokens
from gateway.token_estimate import count_request, image_size, image_tokens, text_tokens


def test_text_tokens_empty_is_zero():
    assert text_tokens("") == 0


def test_text_tokens_monotonic_in_length():
    sample = "The quick brown fox jumps over the lazy dog; 日本語も少し。 Emoji 🎉 too! " * 20
    counts = [text_tokens(sample[:n]) for n in range(len(sample) + 1)]
    assert all(a <= b for a, b in itertools.pairwise(counts))
    assert counts[-1] > counts[len(sample) // 2] > counts[10]


@pytest.mark.parametrize("length", [1, 7, 36, 100, 1000, 10_000, 123_457])
def test_text_tokens_ascii_about_len_over_3_6(length):
    text = ("def f(x):\n    return x * 2  # comment\n" * (length // 38 + 1))[:length]
    assert abs(text_tokens(text) - length / 3.6) <= 1.5


def test_text_tokens_counts_non_ascii():
    cjk = "日本語のテキストを数える" * 10  # 120 three-byte characters
    assert len(cjk) - 1 <= text_tokens(cjk) <= len(cjk) + 2
    assert text_tokens(cjk) > 3 * text_tokens("a" * len(cjk))
    emoji = "🎉" * 50
    assert text_tokens(emoji) >= 50
    accented = "é" * 100
    assert text_tokens(accented) > text_tokens("e" * 100)
    mixed = "hello " * 10 + "мир " * 10
    assert text_tokens(mixed) > text_tokens("hello " * 10 + "mir " * 10)


def test_image_size_png():
    assert image_size(b64(png(200, 150))) == (200, 150)
    assert image_size(b64(png(1, 4097))) == (1, 4097)


def test_image_size_gif():
    assert image_size(b64(gif(320, 240))) == (320, 240)
    header_only = b"GIF87a" + struct.pack("<HH", 17, 1000) + b"\x00\x00\x00"
    assert image_size(b64(header_only)) == (17, 1000)


@pytest.mark.parametrize("sof", [0xC0, 0xC2])
def test_image_size_jpeg(sof):
    assert image_size(b64(jpeg(640, 480, sof=sof))) == (640, 480)


def test_image_size_jpeg_skips_large_app_segment():
    assert image_size(b64(jpeg(1024, 768, app_padding=20_000))) == (1024, 768)


@pytest.mark.parametrize("data", [b"", b"not an image at all", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xd9"])
def test_image_size_unknown(data):
    assert image_size(b64(data)) is None


def test_image_size_reads_only_the_head_of_a_large_payload():
    big = png(300, 300) + b"\x00" * 2_000_000
    assert image_size(b64(big)) == (300, 300)


def test_image_tokens_rule():
    block = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": b64(png(750, 100))}}
    assert image_tokens(block) == 100
    url = {"type": "image", "source": {"type": "url", "url": "https://example.com/x.png"}}
    assert image_tokens(url) > 0


def test_count_request_components_add_up():
    base = validate_count_tokens({"model": "m", "messages": [{"role": "user", "content": "hello there"}]})
    with_system = validate_count_tokens(
        {"model": "m", "system": "Be nice.", "messages": [{"role": "user", "content": "hello there"}]}
    )
    with_tools = validate_count_tokens(
        {"model": "m", "tools": [WEATHER_TOOL], "messages": [{"role": "user", "content": "hello there"}]}
    )
    assert 0 < count_request(base) < count_request(with_system)
    assert count_request(base) < count_request(with_tools)


def test_count_request_handles_a_megabyte():
    text = ("All work and no play makes Jack a dull boy. " * 30_000)[: 1024 * 1024]
    request = validate_count_tokens({"model": "m", "messages": [{"role": "user", "content": text}]})
    tokens = count_request(request)
    assert len(text) / 3.6 <= tokens <= len(text) / 3.6 + 100
