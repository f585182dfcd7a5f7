"""Token estimation for ``count_tokens`` and for limits the gateway enforces itself.

Salesforce exposes no tokenizer, so this is an estimate tuned to Claude's tokenizer on English
and code: about 3.6 ASCII characters per token, one token per non-ASCII character (CJK and
emoji are roughly that), images by Anthropic's published ``width * height / 750`` rule.
It must be fast (1 MB in well under 50 ms), so it only measures lengths.
"""

from __future__ import annotations

import base64
import binascii
import struct
from typing import Any

from .anthropic.request import MessagesRequest
from .jsoncodec import dumps_str

ASCII_CHARS_PER_TOKEN = 3.6
MESSAGE_OVERHEAD = 4
TOOL_OVERHEAD = 8
TOOLS_PREAMBLE = 300  # the system text the backend adds when tools are present
IMAGE_DEFAULT_TOKENS = 1600  # an image whose size cannot be read (URL, file id, odd format)
IMAGE_MAX_TOKENS = 1600 * 3  # large images are downscaled by the API before counting


def text_tokens(text: str) -> int:
    if not text:
        return 0
    if not isinstance(text, str):  # validation keeps these out; a count must never crash on one
        text = str(text)
    length = len(text)
    if text.isascii():
        return int(length / ASCII_CHARS_PER_TOKEN) + 1
    # Each non-ASCII character is two to four UTF-8 bytes; count it as a token.
    wide = len(text.encode("utf-8", "surrogatepass")) - length
    non_ascii = max(1, wide // 2)
    return int((length - non_ascii) / ASCII_CHARS_PER_TOKEN) + non_ascii + 1


def image_size(data_b64: str) -> tuple[int, int] | None:
    """Width and height from the first bytes of a base64 PNG, GIF, JPEG or WebP."""
    head_len = 64 * 1024 // 3 * 4
    try:
        head = base64.b64decode(data_b64[:head_len] + "=" * (-len(data_b64[:head_len]) % 4), validate=False)
    except (binascii.Error, ValueError):
        return None
    if head[:8] == b"\x89PNG\r\n\x1a\n" and len(head) >= 24:
        return struct.unpack(">II", head[16:24])
    if head[:6] in (b"GIF87a", b"GIF89a") and len(head) >= 10:
        return struct.unpack("<HH", head[6:10])
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP" and len(head) >= 30:
        chunk = head[12:16]
        if chunk == b"VP8X":
            return 1 + int.from_bytes(head[24:27], "little"), 1 + int.from_bytes(head[27:30], "little")
        if chunk == b"VP8 ":
            w, h = struct.unpack("<HH", head[26:30])
            return w & 0x3FFF, h & 0x3FFF
        if chunk == b"VP8L" and len(head) >= 25:
            bits = int.from_bytes(head[21:25], "little")
            return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        return None
    if head[:2] == b"\xff\xd8":
        i = 2
        while i + 9 < len(head):
            if head[i] != 0xFF:
                i += 1
                continue
            marker = head[i + 1]
            if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
                h, w = struct.unpack(">HH", head[i + 5 : i + 9])
                return w, h
            i += 2 + struct.unpack(">H", head[i + 2 : i + 4])[0]
    return None


def image_tokens(block: dict) -> int:
    source = block.get("source") or {}
    if source.get("type") == "base64" and isinstance(source.get("data"), str):
        size = image_size(source["data"])
        if size:
            width, height = size
            return max(1, min(IMAGE_MAX_TOKENS, width * height // 750))
    return IMAGE_DEFAULT_TOKENS


def block_tokens(block: Any) -> int:
    if isinstance(block, str):
        return text_tokens(block)
    if not isinstance(block, dict):
        return 0
    kind = block.get("type")
    if kind == "text":
        return text_tokens(block.get("text", ""))
    if kind == "image":
        return image_tokens(block)
    if kind == "tool_use":
        return text_tokens(block.get("name", "")) + text_tokens(dumps_str(block.get("input", {}))) + 4
    if kind == "tool_result":
        content = block.get("content")
        if isinstance(content, list):
            return 4 + sum(block_tokens(b) for b in content)
        return 4 + text_tokens(content or "")
    if kind == "thinking":
        return text_tokens(block.get("thinking", ""))
    if kind == "document":
        source = block.get("source") or {}
        if source.get("type") == "text":
            return text_tokens(source.get("data", ""))
        if source.get("type") == "content":
            content = source.get("content") or []
            return text_tokens(content) if isinstance(content, str) else sum(block_tokens(b) for b in content)
        # A base64 PDF: about one token per 4 base64 characters, never less than an image.
        data = source.get("data")
        return max(IMAGE_DEFAULT_TOKENS, len(data) // 4 if isinstance(data, str) else 0)
    return text_tokens(dumps_str(block))


def tool_tokens(tool: dict) -> int:
    schema = tool.get("input_schema")
    schema_text = dumps_str(schema) if schema is not None else ""
    return (
        TOOL_OVERHEAD
        + text_tokens(tool.get("name", ""))
        + text_tokens(tool.get("description", ""))
        + text_tokens(schema_text)
    )


def count_request(request: MessagesRequest) -> int:
    total = sum(text_tokens(b.get("text", "")) for b in request.system)
    for msg in request.messages:
        total += MESSAGE_OVERHEAD + sum(block_tokens(b) for b in msg["content"])
    if request.tools:
        total += TOOLS_PREAMBLE + sum(tool_tokens(t) for t in request.tools)
    return total
