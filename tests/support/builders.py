"""Inputs the unit tests build: small decodable images, validated Messages requests, a tool definition."""

from __future__ import annotations

import base64
import struct
import zlib

from gateway.anthropic.request import MessagesRequest
from gateway.anthropic.validation import validate_messages

WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def png(width: int, height: int) -> bytes:
    """A complete, decodable greyscale PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    raw = (b"\x00" + bytes(x % 256 for x in range(width))) * height
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def gif(width: int, height: int) -> bytes:
    """A minimal GIF89a: header, logical screen descriptor, one 1x1 image, trailer."""
    screen = struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    image = b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00"
    return b"GIF89a" + screen + image + b"\x3b"


def jpeg(width: int, height: int, *, sof: int = 0xC0, app_padding: int = 0) -> bytes:
    """SOI, a JFIF APP0 (optionally an APP1 of ``app_padding`` bytes), a DQT-free SOF segment, EOI."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    app1 = b""
    if app_padding:
        app1 = b"\xff\xe1" + struct.pack(">H", app_padding + 2) + b"\xff" * app_padding
    components = b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    sof_segment = bytes([0xFF, sof]) + struct.pack(">HBHHB", 8 + len(components), 8, height, width, 3) + components
    return b"\xff\xd8" + app0 + app1 + sof_segment + b"\xff\xd9"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def messages_request(**body) -> MessagesRequest:
    """A validated request, as a route hands it to a translator; ``betas`` go beside the body, as the header does."""
    body.setdefault("model", "claude-sonnet-4-5")
    body.setdefault("max_tokens", 100)
    body.setdefault("messages", [{"role": "user", "content": "hi"}])
    betas = tuple(body.pop("betas", ()))
    return validate_messages(body, betas)
