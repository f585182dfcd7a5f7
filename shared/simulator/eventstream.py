"""Encoding AWS event-stream frames (``application/vnd.amazon.eventstream``), as Bedrock sends them.

Frame: total length (4) | headers length (4) | prelude CRC32 (4) | headers | payload | message CRC32 (4).
Headers here are all strings (type 7): name length (1), name, type, value length (2), value.
"""

from __future__ import annotations

import base64
import binascii
import json
import struct

MEDIA_TYPE = "application/vnd.amazon.eventstream"


def _headers(headers: dict[str, str]) -> bytes:
    out = b""
    for name, value in headers.items():
        raw_name, raw_value = name.encode(), value.encode()
        out += struct.pack("B", len(raw_name)) + raw_name + b"\x07" + struct.pack(">H", len(raw_value)) + raw_value
    return out


def encode_frame(headers: dict[str, str], payload: bytes) -> bytes:
    head = _headers(headers)
    total = 12 + len(head) + len(payload) + 4
    prelude = struct.pack(">II", total, len(head))
    prelude += struct.pack(">I", binascii.crc32(prelude) & 0xFFFFFFFF)
    body = prelude + head + payload
    return body + struct.pack(">I", binascii.crc32(body) & 0xFFFFFFFF)


def chunk_frame(event: dict) -> bytes:
    """One Anthropic stream event wrapped as Bedrock wraps it: ``{"bytes": base64(json)}``."""
    payload = json.dumps({"bytes": base64.b64encode(json.dumps(event).encode()).decode()}).encode()
    return encode_frame(
        {":event-type": "chunk", ":content-type": "application/json", ":message-type": "event"}, payload
    )


def exception_frame(exception_type: str, message: str) -> bytes:
    return encode_frame(
        {
            ":exception-type": exception_type,
            ":content-type": "application/json",
            ":message-type": "exception",
        },
        json.dumps({"message": message}).encode(),
    )
